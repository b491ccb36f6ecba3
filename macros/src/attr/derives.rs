//! `#[model(derive_inputs(serde::Deserialize, PartialEq))]`: traits to
//! derive on the generated insert input (`NewUser`) and partial update
//! (`UserPatch`) besides the `Debug`, `Clone` (and `Default`) they always
//! have, so a handler can take `Json<NewUser>` or `Json<UserPatch>`.

use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;

use super::meta::{format_error, path_text};
use crate::ctxt::Ctxt;

/// The key.
pub(crate) const DERIVE_INPUTS: &str = "derive_inputs";

/// What the generated inputs derive already.
const ALWAYS: &[&str] = &["Debug", "Clone", "Default"];

/// The traits of one `derive_inputs(..)`, in the order written. Mistakes
/// (no list, an empty one, a non-path, a trait derived anyway) go to `cx`.
pub(crate) fn parse_derive_inputs(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
) -> syn::Result<Option<Vec<syn::Path>>> {
    let ex = "#[model(derive_inputs(serde::Deserialize, PartialEq))]";
    let span = meta.path.span();
    if !meta.input.peek(syn::token::Paren) {
        cx.error(
            span,
            format_error("`derive_inputs` needs a list of traits to derive", ex),
        );
        return super::meta::skip_value(meta).map(|()| None);
    }
    let content;
    syn::parenthesized!(content in meta.input);
    let paths = match Punctuated::<syn::Path, syn::Token![,]>::parse_terminated(&content) {
        Ok(paths) => paths,
        Err(err) => {
            // Consume the rest, so the attribute reports this one error.
            let _: proc_macro2::TokenStream = content.parse()?;
            cx.error(
                err.span(),
                format_error("`derive_inputs` takes trait paths, separated by commas", ex),
            );
            return Ok(None);
        }
    };
    if paths.is_empty() {
        cx.error(span, format_error("`derive_inputs()` lists no trait", ex));
        return Ok(None);
    }
    let mut out = Vec::new();
    for path in paths {
        let name = last(&path);
        if ALWAYS.contains(&name.as_str()) {
            cx.error(
                path.span(),
                format!(
                    "the generated inputs always derive `Debug` and `Clone` (the patch also `Default`); remove `{}`",
                    path_text(&path)
                ),
            );
        } else if out.iter().any(|p: &syn::Path| last(p) == name) {
            cx.error(
                path.span(),
                format!("`{name}` is listed twice; name each trait once"),
            );
        } else {
            out.push(path);
        }
    }
    Ok(Some(out))
}

/// The trait's own name: `Deserialize` of `serde::Deserialize`.
pub(crate) fn last(path: &syn::Path) -> String {
    path.segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default()
}

/// Whether `derives` names serde's `Serialize` / `Deserialize`, written
/// `serde::Deserialize` or, imported, `Deserialize` (the derive cannot
/// resolve paths; `rkyv::Deserialize` is another crate's and gets no
/// `#[serde]` attributes).
pub(crate) fn has(derives: &[syn::Path], name: &str) -> bool {
    derives.iter().any(|p| {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        match segments.as_slice() {
            [only] => only == name,
            [krate, trait_name] => krate == "serde" && trait_name == name,
            _ => false,
        }
    })
}
