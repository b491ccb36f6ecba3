//! What a `TextEnum` must be, one rule each: an enum, not generic, with at
//! least one variant, no variant holding data, no two stored as one text.

use super::TextEnum;
use crate::ctxt::Ctxt;
use syn::spanned::Spanned as _;

/// Runs every rule.
pub(crate) fn check(cx: &Ctxt, e: &TextEnum<'_>) {
    if let Some(span) = e.not_an_enum {
        // A struct or union has no variants to check.
        cx.error(
            span,
            "`TextEnum` is for fieldless enums; for a struct, derive `Model`",
        );
        return;
    }
    generics(cx, e);
    some_variant(cx, e);
    unit_variants(cx, e);
    distinct_names(cx, e);
}

/// A column holds one concrete type, so the enum takes no parameters.
fn generics(cx: &Ctxt, e: &TextEnum<'_>) {
    if e.is_generic() {
        cx.error(
            e.generics_span(),
            "a `TextEnum` cannot be generic; remove the type parameters",
        );
    }
}

/// An enum without variants has no value to store.
fn some_variant(cx: &Ctxt, e: &TextEnum<'_>) {
    if e.variants.is_empty() {
        cx.error(e.ident.span(), "a `TextEnum` needs at least one variant");
    }
}

/// A stored value is one text: a variant's data would have nowhere to go.
fn unit_variants(cx: &Ctxt, e: &TextEnum<'_>) {
    for variant in &e.variants {
        if !matches!(variant.fields, syn::Fields::Unit) {
            cx.error(
                variant.fields.span(),
                "a `TextEnum` variant cannot hold data; store it in a separate column",
            );
        }
    }
}

/// Two variants stored as one text could not be told apart when read.
fn distinct_names(cx: &Ctxt, e: &TextEnum<'_>) {
    for (i, variant) in e.variants.iter().enumerate() {
        if e.variants[..i].iter().any(|v| v.name == variant.name) {
            cx.error(
                variant.name_span,
                format!(
                    "two variants are stored as `{}`; give one a `#[model(rename = \"...\")]`",
                    variant.name
                ),
            );
        }
    }
}
