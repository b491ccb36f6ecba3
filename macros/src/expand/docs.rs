//! Doc comments for the generated public items, so a crate under
//! `#![deny(missing_docs)]` can derive `Model`. Plain code spans, no
//! intra-doc links: the items may be private.

use proc_macro2::TokenStream;
use quote::quote;

use super::Expand;
use crate::model::Field;

impl Expand<'_> {
    /// `NewUser`'s doc.
    pub(super) fn doc_new_struct(&self) -> String {
        format!(
            "Insert input for `{}`: every column that is not `generated`, `deleted_at`, `updated_at` or `version`.",
            self.model.ident
        )
    }

    /// `UserPatch`'s doc.
    pub(super) fn doc_patch_struct(&self) -> String {
        let mut doc = format!(
            "Partial update of `{}`: a `Some` field is written, a `None` field is left as it is (for a nullable column, `Some(None)` writes NULL).",
            self.model.ident
        );
        if self.model.version().is_some() {
            doc.push_str(" The version field holds the version the row must still have.");
        }
        doc
    }

    /// A column const's doc.
    pub(super) fn doc_column(&self, field: &Field<'_>) -> String {
        format!(
            "The `{}` column of `{}` (field `{}`), for filters and sorting.",
            field.column, self.model.table, field.ident
        )
    }

    /// The user's own doc comments on `field`, or a generated line.
    pub(super) fn field_docs(&self, field: &Field<'_>, fallback: String) -> TokenStream {
        let docs: Vec<_> = field
            .original
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .collect();
        if docs.is_empty() {
            quote!(#[doc = #fallback])
        } else {
            quote!(#(#docs)*)
        }
    }
}
