//! `#[model(...)]` on a `TextEnum`: `rename_all` on the enum, `rename` on
//! a variant, read like a model's keys (unknown and duplicate keys
//! reported, parsing carries on).

use super::meta::{Spanned, code_list, each_model_key, format_error, parse_name, set, skip_value};
use crate::case::Case;
use crate::ctxt::Ctxt;

const RENAME_ALL: &str = "rename_all";
const RENAME: &str = "rename";

/// `#[model(...)]` on the enum.
#[derive(Default)]
pub(crate) struct EnumAttrs {
    /// `rename_all = ".."`; an unknown case is reported and left out.
    pub(crate) rename_all: Option<Case>,
}

/// `#[model(...)]` on one variant.
#[derive(Default)]
pub(crate) struct VariantAttrs {
    /// `rename = ".."`, at the literal.
    pub(crate) rename: Option<Spanned<String>>,
}

impl EnumAttrs {
    /// Reads the enum's attributes, reporting every mistake to `cx`.
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut out = EnumAttrs::default();
        let mut seen = None;
        each_model_key(cx, attrs, |meta, key, span| {
            if key != RENAME_ALL {
                cx.error(span, unknown(key, RENAME_ALL, "enum"));
                return skip_value(&meta);
            }
            // rename_all = "SCREAMING_SNAKE_CASE"
            let example = r#"#[model(rename_all = "SCREAMING_SNAKE_CASE")]"#;
            let Some(name) = parse_name(cx, &meta, RENAME_ALL, example)? else {
                return Ok(());
            };
            set(cx, &mut seen, RENAME_ALL, span, ());
            match Case::from_name(&name.value) {
                Some(case) => out.rename_all = Some(case),
                None => {
                    let cases: Vec<&str> = Case::NAMES.iter().map(|(n, _)| *n).collect();
                    cx.error(
                        name.span,
                        format!(
                            "unknown case `{}`; expected one of {}",
                            name.value,
                            code_list(&cases)
                        ),
                    );
                }
            }
            Ok(())
        });
        out
    }
}

impl VariantAttrs {
    /// Reads one variant's attributes, reporting every mistake to `cx`.
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut out = VariantAttrs::default();
        each_model_key(cx, attrs, |meta, key, span| {
            if key != RENAME {
                cx.error(span, unknown(key, RENAME, "variant"));
                return skip_value(&meta);
            }
            // rename = "refunded_in_full"
            let example = r#"#[model(rename = "refunded_in_full")]"#;
            if let Some(name) = parse_name(cx, &meta, RENAME, example)? {
                set(cx, &mut out.rename, RENAME, span, name);
            }
            Ok(())
        });
        out
    }
}

/// "unknown `model` attribute `x` on a `TextEnum` variant; expected `rename`".
fn unknown(key: &str, expected: &str, on: &str) -> String {
    format_error(
        &format!("unknown `model` attribute `{key}` on a `TextEnum` {on}; expected `{expected}`"),
        &format!("#[model({expected} = \"...\")]"),
    )
}
