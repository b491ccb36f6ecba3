//! `#[model(...)]` and `#[validate(...)]`, parsed by hand with
//! `parse_nested_meta`. Every key keeps its span; an unknown key, a
//! duplicate or a value of the wrong shape is reported to the [`Ctxt`] and
//! parsing carries on with the next key.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned as _;
use syn::{LitInt, LitStr, Token};

use crate::ctxt::Ctxt;

/// The attribute that carries every strata key.
const MODEL: &str = "model";
/// The validation rules attribute.
const VALIDATE: &str = "validate";

// Struct keys.
const TABLE: &str = "table";
const SCHEMA: &str = "schema";
const SOFT_DELETE: &str = "soft_delete";
const CACHE: &str = "cache";
const TTL_SECS: &str = "ttl_secs";
const VALIDATE_WITH: &str = "validate_with";

// Field keys.
const PRIMARY_KEY: &str = "primary_key";
const GENERATED: &str = "generated";
const COLUMN: &str = "column";
const UNIQUE: &str = "unique";
const DELETED_AT: &str = "deleted_at";
const UPDATED_AT: &str = "updated_at";
const VERSION: &str = "version";
const SKIP: &str = "skip";

const STRUCT_KEYS: &[&str] = &[TABLE, SCHEMA, SOFT_DELETE, CACHE, VALIDATE_WITH];
const FIELD_KEYS: &[&str] = &[
    PRIMARY_KEY,
    GENERATED,
    COLUMN,
    UNIQUE,
    DELETED_AT,
    UPDATED_AT,
    VERSION,
    SKIP,
];

/// A value together with the span of the attribute that gave it.
#[derive(Debug, Clone)]
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// The tokens of one `#[validate(...)]`, kept as written; `validate_attr`
/// parses them into rules.
#[derive(Debug, Clone)]
pub(crate) struct RawValidate {
    /// The `validate` path, for errors about the attribute as a whole.
    pub(crate) span: Span,
    /// Everything between the parentheses.
    pub(crate) tokens: TokenStream,
}

/// `#[model(...)]` and `#[validate(...)]` on the struct.
#[derive(Default)]
pub(crate) struct StructAttrs {
    pub(crate) table: Option<Spanned<String>>,
    pub(crate) schema: Option<Spanned<String>>,
    pub(crate) soft_delete: Option<Span>,
    pub(crate) cache_ttl_secs: Option<Spanned<u64>>,
    pub(crate) validate_with: Option<syn::Path>,
    pub(crate) validate: Vec<RawValidate>,
}

/// `#[model(...)]` and `#[validate(...)]` on one field.
#[derive(Debug, Default)]
pub(crate) struct FieldAttrs {
    pub(crate) primary_key: Option<Span>,
    pub(crate) generated: Option<Span>,
    pub(crate) column: Option<Spanned<String>>,
    pub(crate) unique: Option<Span>,
    pub(crate) deleted_at: Option<Span>,
    pub(crate) updated_at: Option<Span>,
    pub(crate) version: Option<Span>,
    pub(crate) skip: Option<Span>,
    pub(crate) validate: Vec<RawValidate>,
}

impl StructAttrs {
    /// Reads the struct's attributes, reporting every mistake to `cx`.
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut out = StructAttrs::default();
        out.validate = each_model_key(cx, attrs, |meta, key, span| {
            match key {
                // table = "users"
                TABLE => {
                    if let Some(v) = parse_name(cx, &meta, TABLE)? {
                        set(cx, &mut out.table, TABLE, span, v);
                    }
                }
                // schema = "app"
                SCHEMA => {
                    if let Some(v) = parse_name(cx, &meta, SCHEMA)? {
                        set(cx, &mut out.schema, SCHEMA, span, v);
                    }
                }
                // soft_delete
                SOFT_DELETE => {
                    if let Some(v) = parse_flag(cx, &meta, SOFT_DELETE)? {
                        set(cx, &mut out.soft_delete, SOFT_DELETE, span, v);
                    }
                }
                // cache(ttl_secs = 300)
                CACHE => {
                    if let Some(v) = parse_cache(cx, &meta)? {
                        set(cx, &mut out.cache_ttl_secs, CACHE, span, v);
                    }
                }
                // validate_with = path::to_fn
                VALIDATE_WITH => {
                    if let Some(v) = parse_path(cx, &meta, VALIDATE_WITH)? {
                        set(cx, &mut out.validate_with, VALIDATE_WITH, span, v);
                    }
                }
                _ => {
                    let message = if FIELD_KEYS.contains(&key) {
                        format!(
                            "`{key}` is a field attribute; put `{}` on a field, not on the struct",
                            example(key)
                        )
                    } else {
                        unknown_key(key, "attribute", STRUCT_KEYS)
                    };
                    cx.error(span, message);
                    skip_value(&meta)?;
                }
            }
            Ok(())
        });
        out
    }
}

impl FieldAttrs {
    /// Reads one field's attributes, reporting every mistake to `cx`.
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut out = FieldAttrs::default();
        out.validate = each_model_key(cx, attrs, |meta, key, span| {
            let flag = match key {
                // column = "email_address"
                COLUMN => {
                    if let Some(v) = parse_name(cx, &meta, COLUMN)? {
                        set(cx, &mut out.column, COLUMN, span, v);
                    }
                    return Ok(());
                }
                // primary_key
                PRIMARY_KEY => &mut out.primary_key,
                // generated
                GENERATED => &mut out.generated,
                // unique
                UNIQUE => &mut out.unique,
                // deleted_at
                DELETED_AT => &mut out.deleted_at,
                // updated_at
                UPDATED_AT => &mut out.updated_at,
                // version
                VERSION => &mut out.version,
                // skip
                SKIP => &mut out.skip,
                _ => {
                    let message = if STRUCT_KEYS.contains(&key) {
                        format!(
                            "`{key}` is a struct attribute; put `{}` on the struct, not on a field",
                            example(key)
                        )
                    } else {
                        unknown_key(key, "field attribute", FIELD_KEYS)
                    };
                    cx.error(span, message);
                    return skip_value(&meta);
                }
            };
            if let Some(v) = parse_flag(cx, &meta, key)? {
                set(cx, flag, key, span, v);
            }
            Ok(())
        });
        out
    }
}

/// The walk both attribute readers share: calls `on_key` with each key of
/// every `#[model(..)]` (its text and span), reports parse errors to `cx`,
/// and returns the `#[validate(..)]` attributes for the rules' parser.
fn each_model_key(
    cx: &Ctxt,
    attrs: &[syn::Attribute],
    mut on_key: impl FnMut(ParseNestedMeta<'_>, &str, Span) -> syn::Result<()>,
) -> Vec<RawValidate> {
    let mut validate = Vec::new();
    for attr in attrs {
        if attr.path().is_ident(VALIDATE) {
            validate.extend(raw_validate(cx, attr));
        } else if attr.path().is_ident(MODEL) {
            let result = attr.parse_nested_meta(|meta| {
                let key = key_of(&meta);
                let span = meta.path.span();
                on_key(meta, &key, span)
            });
            if let Err(err) = result {
                cx.syn_error(err);
            }
        }
    }
    validate
}

/// The key as written, for messages (`tabel`, `a::b`).
fn key_of(meta: &ParseNestedMeta<'_>) -> String {
    let segments: Vec<String> = meta
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segments.join("::")
}

/// Stores a key's value, or reports the second occurrence of a key.
fn set<T>(cx: &Ctxt, slot: &mut Option<T>, key: &str, span: Span, value: T) {
    if slot.is_some() {
        cx.error(
            span,
            format!("duplicate `model` attribute `{key}`; give each key once"),
        );
    } else {
        *slot = Some(value);
    }
}

/// "unknown `model` attribute `tabel`, expected one of `table`, ..."
fn unknown_key(key: &str, what: &str, valid: &[&str]) -> String {
    let list: Vec<String> = valid.iter().map(|k| format!("`{k}`")).collect();
    format!(
        "unknown `model` {what} `{key}`, expected one of {}",
        list.join(", ")
    )
}

/// How a key is written, for the help line of format errors.
fn example(key: &str) -> String {
    match key {
        TABLE => r#"#[model(table = "users")]"#.to_owned(),
        SCHEMA => r#"#[model(schema = "app")]"#.to_owned(),
        COLUMN => r#"#[model(column = "email_address")]"#.to_owned(),
        CACHE => "#[model(cache(ttl_secs = 300))]".to_owned(),
        VALIDATE_WITH => "#[model(validate_with = path::to_fn)]".to_owned(),
        flag => format!("#[model({flag})]"),
    }
}

/// A format error: what is wrong, then how the key is written.
fn format_error(what: &str, key: &str) -> String {
    format!(
        "{what}\n\nhelp: the correct format looks like `{}`",
        example(key)
    )
}

/// Skips whatever follows a key (`= ..` or `(..)`) up to the next comma,
/// so one bad key does not hide the keys after it.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        meta.input.parse::<TokenTree>()?;
    }
    Ok(())
}

/// The tokens after `key =`, up to the next comma.
fn value_tokens(meta: &ParseNestedMeta<'_>) -> syn::Result<TokenStream> {
    meta.input.parse::<Token![=]>()?;
    let mut tokens = TokenStream::new();
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        tokens.extend([meta.input.parse::<TokenTree>()?]);
    }
    Ok(tokens)
}

/// `key` with no value. Returns the key's span.
fn parse_flag(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<Option<Span>> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        return Ok(Some(meta.path.span()));
    }
    cx.error(
        meta.path.span(),
        format_error(&format!("`{key}` takes no value"), key),
    );
    skip_value(meta)?;
    // The intent is clear: treat the flag as set, so the rules that depend
    // on it do not report follow-on errors.
    Ok(Some(meta.path.span()))
}

/// `key = "name"`: a non-empty string literal (a table, schema or column).
fn parse_name(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    key: &str,
) -> syn::Result<Option<Spanned<String>>> {
    if !meta.input.peek(Token![=]) {
        cx.error(
            meta.path.span(),
            format_error(&format!("`{key}` needs a name"), key),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let tokens = value_tokens(meta)?;
    let Ok(lit) = syn::parse2::<LitStr>(tokens.clone()) else {
        let message = format_error(&format!("`{key}` takes a string literal"), key);
        if tokens.is_empty() {
            cx.error(meta.path.span(), message);
        } else {
            cx.syn_error(syn::Error::new_spanned(tokens, message));
        }
        return Ok(None);
    };
    let value = lit.value();
    if value.is_empty() {
        cx.error(
            lit.span(),
            format_error(&format!("`{key}` cannot be empty"), key),
        );
        return Ok(None);
    }
    Ok(Some(Spanned {
        value,
        span: lit.span(),
    }))
}

/// `key = path::to_fn`: a path to a function.
fn parse_path(cx: &Ctxt, meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<Option<syn::Path>> {
    if !meta.input.peek(Token![=]) {
        cx.error(
            meta.path.span(),
            format_error(&format!("`{key}` needs a function"), key),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let tokens = value_tokens(meta)?;
    match syn::parse2::<syn::Path>(tokens.clone()) {
        Ok(path) => Ok(Some(path)),
        Err(_) => {
            let message = format_error(&format!("`{key}` takes the path of a function"), key);
            if tokens.is_empty() {
                cx.error(meta.path.span(), message);
            } else {
                cx.syn_error(syn::Error::new_spanned(tokens, message));
            }
            Ok(None)
        }
    }
}

/// `cache(ttl_secs = N)` with `N` a positive integer.
fn parse_cache(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Option<Spanned<u64>>> {
    if !meta.input.peek(syn::token::Paren) {
        cx.error(
            meta.path.span(),
            format_error("`cache` needs a time to live", CACHE),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let mut ttl: Option<Spanned<u64>> = None;
    let mut any_option = false;
    meta.parse_nested_meta(|inner| {
        any_option = true;
        if !inner.path.is_ident(TTL_SECS) {
            cx.error(
                inner.path.span(),
                format!(
                    "unknown `cache` option `{}`, expected `ttl_secs`",
                    key_of(&inner)
                ),
            );
            return skip_value(&inner);
        }
        if !inner.input.peek(Token![=]) {
            cx.error(
                inner.path.span(),
                format_error("`ttl_secs` needs a number of seconds", CACHE),
            );
            return skip_value(&inner);
        }
        let tokens = value_tokens(&inner)?;
        let secs = syn::parse2::<LitInt>(tokens.clone())
            .ok()
            .and_then(|lit| lit.base10_parse::<u64>().ok())
            .filter(|secs| *secs > 0);
        match secs {
            Some(value) => {
                set(
                    cx,
                    &mut ttl,
                    TTL_SECS,
                    inner.path.span(),
                    Spanned {
                        value,
                        span: inner.path.span(),
                    },
                );
            }
            None => cx.syn_error(syn::Error::new_spanned(
                tokens,
                format_error("`ttl_secs` takes a positive whole number of seconds", CACHE),
            )),
        }
        Ok(())
    })?;
    // `cache()`: the mistakes inside the parentheses were reported above.
    if ttl.is_none() && !any_option {
        cx.error(
            meta.path.span(),
            format_error("`cache` needs `ttl_secs`", CACHE),
        );
    }
    Ok(ttl)
}

/// `#[validate(...)]`: any tokens inside the parentheses, kept for the
/// validation step.
fn raw_validate(cx: &Ctxt, attr: &syn::Attribute) -> Option<RawValidate> {
    match &attr.meta {
        syn::Meta::List(list) => Some(RawValidate {
            span: list.path.span(),
            tokens: list.tokens.clone(),
        }),
        other => {
            cx.error(
                other.span(),
                "`validate` takes a list of rules\n\nhelp: the correct format looks like `#[validate(length(max = 100))]`",
            );
            None
        }
    }
}
