//! `#[validate(...)]` on a field, parsed into typed [`Rule`]s with their
//! spans. Shape mistakes (an unknown rule, a value where none belongs, a
//! bound that is not a number) are reported here; rules that contradict
//! each other (`min > max`, a bad regex, `one_of()` with nothing in it) are
//! `check`'s, and a rule on the wrong type is a trait bound in the expansion.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser as _;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::{Lit, LitStr, Token};

use super::RawValidate;
use super::meta::{Spanned, code_list, is_bare, parse_value, path_text, skip_value, value_tokens};
use crate::ctxt::Ctxt;

const EMAIL: &str = "email";
const URL: &str = "url";
const UUID: &str = "uuid";
const LENGTH: &str = "length";
const RANGE: &str = "range";
const PATTERN: &str = "pattern";
const NON_EMPTY: &str = "non_empty";
const ONE_OF: &str = "one_of";
const CUSTOM: &str = "custom";
const MIN: &str = "min";
const MAX: &str = "max";

const RULES: &[&str] = &[
    EMAIL, URL, UUID, LENGTH, RANGE, PATTERN, NON_EMPTY, ONE_OF, CUSTOM,
];

/// One rule of a field, at the span of its name.
#[derive(Clone)]
pub(crate) struct Rule {
    pub(crate) kind: RuleKind,
    /// The rule's name in the attribute.
    pub(crate) span: Span,
}

/// What a rule checks.
#[derive(Clone)]
pub(crate) enum RuleKind {
    /// `email`
    Email,
    /// `url`
    Url,
    /// `uuid`
    Uuid,
    /// `non_empty`
    NonEmpty,
    /// `length(min = 1, max = 100)`: characters or elements.
    Length {
        min: Option<Spanned<u64>>,
        max: Option<Spanned<u64>>,
    },
    /// `range(min = 0, max = 1.5)`: inclusive numeric bounds.
    Range {
        min: Option<Spanned<Number>>,
        max: Option<Spanned<Number>>,
    },
    /// `pattern = "^[a-z]+$"`.
    Pattern(LitStr),
    /// `one_of("a", "b")`; `check` reports an empty list.
    OneOf(Vec<LitStr>),
    /// `custom = path::to_fn`.
    Custom(syn::Path),
}

impl RuleKind {
    /// The rule's name, as written.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            RuleKind::Email => EMAIL,
            RuleKind::Url => URL,
            RuleKind::Uuid => UUID,
            RuleKind::NonEmpty => NON_EMPTY,
            RuleKind::Length { .. } => LENGTH,
            RuleKind::Range { .. } => RANGE,
            RuleKind::Pattern(_) => PATTERN,
            RuleKind::OneOf(_) => ONE_OF,
            RuleKind::Custom(_) => CUSTOM,
        }
    }
}

/// A numeric literal bound of `range`, possibly negative.
#[derive(Debug, Clone)]
pub(crate) enum Number {
    /// A whole number: `150`, `-3`.
    Int(i128),
    /// A fraction or exponent: `0.5`, `1e3`, with the text as written.
    Float(f64, String),
}

impl Number {
    /// The value, for comparing two bounds.
    pub(crate) fn as_f64(&self) -> f64 {
        match self {
            #[allow(clippy::cast_precision_loss, reason = "only compares two bounds")]
            Number::Int(v) => *v as f64,
            Number::Float(v, _) => *v,
        }
    }

    /// The literal as written (`-3`, `0.5`).
    pub(crate) fn text(&self) -> String {
        match self {
            Number::Int(v) => v.to_string(),
            Number::Float(_, text) => text.clone(),
        }
    }
}

/// How each rule is written, for the help line of format errors.
pub(crate) fn example(rule: &str) -> &'static str {
    match rule {
        LENGTH => "#[validate(length(min = 1, max = 100))]",
        RANGE => "#[validate(range(min = 0, max = 150))]",
        PATTERN => r#"#[validate(pattern = "^[a-z0-9_]+$")]"#,
        ONE_OF => r#"#[validate(one_of("draft", "published"))]"#,
        CUSTOM => "#[validate(custom = path::to_fn)]",
        URL => "#[validate(url)]",
        UUID => "#[validate(uuid)]",
        NON_EMPTY => "#[validate(non_empty)]",
        _ => "#[validate(email)]",
    }
}

/// A format error: what is wrong, then how the rule is written.
fn format_error(what: &str, rule: &str) -> String {
    super::meta::format_error(what, example(rule))
}

/// Parses every `#[validate(...)]` of one field; mistakes go to `cx` and
/// the rule is dropped, the others are kept.
pub(crate) fn parse_rules(cx: &Ctxt, raw: &[RawValidate]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for attr in raw {
        let parser = syn::meta::parser(|meta| {
            if let Some(rule) = parse_rule(cx, &meta)? {
                rules.push(rule);
            }
            Ok(())
        });
        if let Err(err) = parser.parse2(attr.tokens.clone()) {
            cx.syn_error(err);
        }
        if attr.tokens.is_empty() {
            cx.error(
                attr.span,
                "`validate` needs at least one rule\n\nhelp: the correct format looks like `#[validate(length(max = 100))]`",
            );
        }
    }
    rules
}

/// One rule: `name`, `name = value` or `name(..)`.
fn parse_rule(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Option<Rule>> {
    let name = meta
        .path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    let span = meta.path.span();
    let kind =
        match name.as_str() {
            // email
            EMAIL => flag(cx, meta, EMAIL, RuleKind::Email)?,
            // url
            URL => flag(cx, meta, URL, RuleKind::Url)?,
            // uuid
            UUID => flag(cx, meta, UUID, RuleKind::Uuid)?,
            // non_empty
            NON_EMPTY => flag(cx, meta, NON_EMPTY, RuleKind::NonEmpty)?,
            // length(min = 1, max = 100)
            LENGTH => bounds(cx, meta, LENGTH, parse_count)?
                .map(|(min, max)| RuleKind::Length { min, max }),
            // range(min = 0, max = 150)
            RANGE => bounds(cx, meta, RANGE, parse_number)?
                .map(|(min, max)| RuleKind::Range { min, max }),
            // pattern = "^[a-z]+$"
            PATTERN => parse_value(
                cx,
                meta,
                &format_error("`pattern` needs a regular expression", PATTERN),
                &format_error("`pattern` takes a string literal", PATTERN),
            )?
            .map(RuleKind::Pattern),
            // one_of("a", "b")
            ONE_OF => {
                if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    match Punctuated::<LitStr, Token![,]>::parse_terminated(&content) {
                        Ok(values) => Some(RuleKind::OneOf(values.into_iter().collect())),
                        Err(err) => {
                            cx.error(
                                err.span(),
                                format_error("`one_of` takes string literals", ONE_OF),
                            );
                            None
                        }
                    }
                } else {
                    cx.error(
                        span,
                        format_error("`one_of` needs the allowed values", ONE_OF),
                    );
                    skip_value(meta)?;
                    None
                }
            }
            // custom = path::to_fn
            CUSTOM => parse_value(
                cx,
                meta,
                &format_error("`custom` needs a function", CUSTOM),
                &format_error("`custom` takes the path of a function", CUSTOM),
            )?
            .map(RuleKind::Custom),
            _ => {
                let written = path_text(&meta.path);
                cx.error(
                    span,
                    format!(
                        "unknown `validate` rule `{written}`, expected one of {}",
                        code_list(RULES)
                    ),
                );
                skip_value(meta)?;
                None
            }
        };
    Ok(kind.map(|kind| Rule { kind, span }))
}

/// A rule without a value.
fn flag(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    rule: &str,
    kind: RuleKind,
) -> syn::Result<Option<RuleKind>> {
    if !is_bare(meta) {
        cx.error(
            meta.path.span(),
            format_error(&format!("`{rule}` takes no value"), rule),
        );
        skip_value(meta)?;
    }
    // The intent is clear either way: keep the rule.
    Ok(Some(kind))
}

/// A parsed bound pair of `length` or `range`.
type Bounds<T> = (Option<Spanned<T>>, Option<Spanned<T>>);

/// `rule(min = .., max = ..)`, each bound parsed by `parse`. `None` when
/// the rule is unusable (reported).
fn bounds<T>(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    rule: &str,
    parse: fn(&TokenStream) -> Result<T, &'static str>,
) -> syn::Result<Option<Bounds<T>>> {
    if !meta.input.peek(syn::token::Paren) {
        cx.error(
            meta.path.span(),
            format_error(&format!("`{rule}` needs `min`, `max` or both"), rule),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    // `rule()`: syn's nested parser wants at least one item.
    let fork = meta.input.fork();
    let content;
    syn::parenthesized!(content in fork);
    if content.is_empty() {
        meta.input.parse::<proc_macro2::Group>()?;
        cx.error(
            meta.path.span(),
            format_error(&format!("`{rule}` needs `min`, `max` or both"), rule),
        );
        return Ok(None);
    }
    let (mut min, mut max) = (None, None);
    let mut usable = true;
    meta.parse_nested_meta(|inner| {
        let key = inner.path.get_ident().map(ToString::to_string);
        let slot = match key.as_deref() {
            Some(MIN) => &mut min,
            Some(MAX) => &mut max,
            _ => {
                cx.error(
                    inner.path.span(),
                    format_error(
                        &format!(
                            "unknown `{rule}` bound `{}`, expected `min` or `max`",
                            path_text(&inner.path)
                        ),
                        rule,
                    ),
                );
                usable = false;
                return skip_value(&inner);
            }
        };
        let key = key.unwrap_or_default();
        let missing = format_error(&format!("`{key}` needs a value"), rule);
        let Some(tokens) = value_tokens(cx, &inner, &missing)? else {
            usable = false;
            return Ok(());
        };
        match parse(&tokens) {
            Ok(v) if slot.is_none() => {
                *slot = Some(Spanned {
                    value: v,
                    span: tokens.span(),
                });
            }
            Ok(_) => {
                cx.error(
                    inner.path.span(),
                    format!("duplicate `{key}` in `{rule}`; give each bound once"),
                );
            }
            Err(what) => {
                cx.syn_error(syn::Error::new_spanned(
                    tokens,
                    format_error(&format!("`{key}` of `{rule}` takes {what}"), rule),
                ));
                usable = false;
            }
        }
        Ok(())
    })?;
    if min.is_none() && max.is_none() {
        if usable {
            cx.error(
                meta.path.span(),
                format_error(&format!("`{rule}` needs `min`, `max` or both"), rule),
            );
        }
        return Ok(None);
    }
    Ok(Some((min, max)))
}

/// A `length` bound: a whole number, zero or more.
fn parse_count(tokens: &TokenStream) -> Result<u64, &'static str> {
    match syn::parse2::<Lit>(tokens.clone()) {
        Ok(Lit::Int(lit)) => lit.base10_parse::<u64>().map_err(|_| "a whole number"),
        _ => Err("a whole number (a count of characters or items)"),
    }
}

/// A `range` bound: an integer or float literal, possibly negative.
fn parse_number(tokens: &TokenStream) -> Result<Number, &'static str> {
    const WHAT: &str = "a number literal, e.g. `0`, `-5` or `0.5`";
    let mut iter = tokens.clone().into_iter().peekable();
    let negative = matches!(iter.peek(), Some(TokenTree::Punct(p)) if p.as_char() == '-');
    if negative {
        iter.next();
    }
    let rest: TokenStream = iter.collect();
    let sign = if negative { "-" } else { "" };
    match syn::parse2::<Lit>(rest) {
        Ok(Lit::Int(lit)) => {
            let text = format!("{sign}{}", lit.base10_digits());
            text.parse::<i128>().map(Number::Int).map_err(|_| WHAT)
        }
        Ok(Lit::Float(lit)) => {
            let text = format!("{sign}{}", lit.base10_digits());
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(Number::Float(v, text)),
                _ => Err(WHAT),
            }
        }
        _ => Err(WHAT),
    }
}
