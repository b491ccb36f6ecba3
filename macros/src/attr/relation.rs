//! `belongs_to(Target, key = field)` and `has_many(Target, key = field)` on
//! a model struct, each with an optional `name = "CONST"`. Parsed into a
//! [`Relation`] whose const name is resolved (given, or made from the
//! target's name); whether `key` is there and names a field is
//! `check::relations`' to say, with the spans kept here.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned as _;

use super::meta::{format_error, is_bare, parse_name, parse_value, path_text, skip_value};
use crate::case;
use crate::ctxt::Ctxt;

/// `belongs_to` on the struct.
pub(crate) const BELONGS_TO: &str = "belongs_to";
/// `has_many` on the struct.
pub(crate) const HAS_MANY: &str = "has_many";
const KEY: &str = "key";
const NAME: &str = "name";

/// Which side of the relation holds the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RelationKind {
    /// This model's `key` field holds the target's primary key.
    BelongsTo,
    /// The target's `key` field holds this model's primary key.
    HasMany,
}

impl RelationKind {
    /// The attribute key, for messages.
    pub(crate) fn key(self) -> &'static str {
        match self {
            RelationKind::BelongsTo => BELONGS_TO,
            RelationKind::HasMany => HAS_MANY,
        }
    }

    /// How the attribute is written, for the help line of format errors.
    pub(crate) fn example(self) -> &'static str {
        match self {
            RelationKind::BelongsTo => "#[model(belongs_to(Customer, key = customer_id))]",
            RelationKind::HasMany => "#[model(has_many(Scenario, key = deal_id))]",
        }
    }
}

/// One relation of the model.
#[derive(Clone)]
pub(crate) struct Relation {
    pub(crate) kind: RelationKind,
    /// The `belongs_to` / `has_many` key, for errors about the whole attribute.
    pub(crate) span: Span,
    /// The related model, as written.
    pub(crate) target: syn::Path,
    /// `key = field`: on this model for `belongs_to`, on the target for
    /// `has_many`. `check` reports a missing one.
    pub(crate) key: Option<syn::Ident>,
    /// The const's name: `name = ".."`, else `CUSTOMER` for
    /// `belongs_to(Customer)`, `SCENARIOS` for `has_many(Scenario)`.
    pub(crate) name: syn::Ident,
    /// The span of `name = ".."` when the name was given.
    pub(crate) name_attr: Option<Span>,
}

impl Relation {
    /// Where the const's name comes from: `name = ".."` or the target.
    pub(crate) fn name_span(&self) -> Span {
        self.name_attr.unwrap_or_else(|| self.target.span())
    }

    /// The target's name as written last in its path: `Customer`.
    pub(crate) fn target_name(&self) -> String {
        self.target
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default()
    }
}

/// `belongs_to(Customer, key = customer_id, name = "OWNER")` or
/// `has_many(..)`; `None` (reported) when no target can be read.
pub(crate) fn parse_relation(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    kind: RelationKind,
) -> syn::Result<Option<Relation>> {
    let ex = kind.example();
    let span = meta.path.span();
    let what = kind.key();
    if !meta.input.peek(syn::token::Paren) {
        cx.error(
            span,
            format_error(
                &format!("`{what}` needs the related model and the key field"),
                ex,
            ),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let mut target: Option<syn::Path> = None;
    let mut key: Option<syn::Ident> = None;
    let mut name: Option<(syn::Ident, Span)> = None;
    meta.parse_nested_meta(|inner| {
        let option = path_text(&inner.path);
        // key = customer_id
        if inner.path.is_ident(KEY) && !is_bare(&inner) {
            let missing = format_error("`key` needs the field that holds the key", ex);
            let wrong = format_error("`key` takes a field name", ex);
            if let Some(v) = parse_value::<syn::Ident>(cx, &inner, &missing, &wrong)? {
                if key.is_some() {
                    cx.error(v.span(), format!("duplicate `key` in `{what}`; give it once"));
                } else {
                    key = Some(v);
                }
            }
        // name = "OWNER"
        } else if inner.path.is_ident(NAME) && !is_bare(&inner) {
            let example = format!("#[model({what}(.., name = \"OWNER\"))]");
            if let Some(v) = parse_name(cx, &inner, NAME, &example)? {
                match syn::parse_str::<syn::Ident>(&v.value) {
                    Ok(ident) if name.is_none() => {
                        name = Some((syn::Ident::new(&ident.to_string(), v.span), v.span));
                    }
                    Ok(_) => cx.error(v.span, format!("duplicate `name` in `{what}`; give it once")),
                    Err(_) => cx.error(
                        v.span,
                        format_error(
                            &format!("`name = \"{}\"` is not a Rust identifier; it names the relation's const", v.value),
                            &example,
                        ),
                    ),
                }
            }
        // Customer, crate::models::Customer
        } else if is_bare(&inner) && target.is_none() && key.is_none() && name.is_none() {
            target = Some(inner.path.clone());
        } else {
            cx.error(
                inner.path.span(),
                format_error(
                    &format!(
                        "unexpected `{option}` in `{what}`; it takes the related model first, then `key = field` and optionally `name = \"CONST\"`"
                    ),
                    ex,
                ),
            );
            skip_value(&inner)?;
        }
        Ok(())
    })?;
    let Some(target) = target else {
        cx.error(
            span,
            format_error(&format!("`{what}` needs the related model first"), ex),
        );
        return Ok(None);
    };
    let default_name = || {
        let model = target
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        let text = match kind {
            RelationKind::BelongsTo => case::const_name(&model),
            RelationKind::HasMany => case::const_name(&case::table_name(&model)),
        };
        syn::Ident::new(&text, target.span())
    };
    let (name, name_attr) = match name {
        Some((ident, span)) => (ident, Some(span)),
        None => (default_name(), None),
    };
    Ok(Some(Relation {
        kind,
        span,
        target,
        key,
        name,
        name_attr,
    }))
}
