//! `#[from_row(...)]` on a field, read by hand like `#[model(..)]`
//! (`crate::attr`): every key keeps its span, an unknown or duplicate key
//! is reported and parsing carries on. `#[from_row]` on the struct is
//! reported: every key is a field's.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned as _;

use crate::attr::meta::{self, Spanned, code_list, parse_flag, parse_name, skip_value};
use crate::ctxt::Ctxt;

/// The attribute the derive reads.
pub(crate) const FROM_ROW: &str = "from_row";

const RENAME: &str = "rename";
const DEFAULT: &str = "default";
const SKIP: &str = "skip";
const FLATTEN: &str = "flatten";
const KEYS: &[&str] = &[RENAME, DEFAULT, SKIP, FLATTEN];

/// `#[from_row(...)]` on one field.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// `rename = "col"`, at the literal.
    pub(crate) rename: Option<Spanned<String>>,
    /// `default`: a missing column reads as `Default::default()`.
    pub(crate) default: Option<Span>,
    /// `skip`: never read, always `Default::default()`.
    pub(crate) skip: Option<Span>,
    /// `flatten`: a nested `FromRow` struct read from the same row.
    pub(crate) flatten: Option<Span>,
}

impl FieldAttrs {
    /// Reads one field's `#[from_row(..)]`s, reporting every mistake to `cx`.
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut out = FieldAttrs::default();
        each_key(cx, attrs, |meta, key, span| {
            let flag = match key {
                // rename = "user_name"
                RENAME => {
                    let example = r#"#[from_row(rename = "user_name")]"#;
                    if let Some(name) = parse_name(cx, &meta, RENAME, example)? {
                        set(cx, &mut out.rename, RENAME, span, name);
                    }
                    return Ok(());
                }
                DEFAULT => &mut out.default,
                SKIP => &mut out.skip,
                FLATTEN => &mut out.flatten,
                _ => {
                    cx.error(
                        span,
                        format!(
                            "unknown `from_row` attribute `{key}`, expected one of {}",
                            code_list(KEYS)
                        ),
                    );
                    return skip_value(&meta);
                }
            };
            let value = parse_flag(cx, &meta, key, &format!("#[from_row({key})]"))?;
            set(cx, flag, key, span, value);
            Ok(())
        });
        out
    }
}

/// Reports every `#[from_row(..)]` on the struct: the keys are the fields'.
pub(crate) fn reject_on_struct(cx: &Ctxt, attrs: &[syn::Attribute]) {
    for attr in attrs.iter().filter(|a| a.path().is_ident(FROM_ROW)) {
        cx.error(
            attr.path().span(),
            format!(
                "`#[from_row(..)]` goes on a field ({}), not on the struct",
                code_list(KEYS)
            ),
        );
    }
}

/// Calls `on_key` with each key of every `#[from_row(..)]` in `attrs`.
fn each_key(
    cx: &Ctxt,
    attrs: &[syn::Attribute],
    on_key: impl FnMut(ParseNestedMeta<'_>, &str, Span) -> syn::Result<()>,
) {
    meta::each_key(cx, attrs, FROM_ROW, on_key);
}

/// Stores a key's value, or reports the second occurrence of a key.
fn set<T>(cx: &Ctxt, slot: &mut Option<T>, key: &str, span: Span, value: T) {
    if slot.is_some() {
        cx.error(
            span,
            format!("duplicate `from_row` attribute `{key}`; give each key once"),
        );
    } else {
        *slot = Some(value);
    }
}
