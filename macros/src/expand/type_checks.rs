//! The type-dependent rules, as trait bounds at each field's type span: a
//! wrong type is reported at the user's field with the message of the
//! `__private` trait's `#[diagnostic::on_unimplemented]`.

use proc_macro2::TokenStream;
use quote::quote_spanned;
use syn::spanned::Spanned as _;

use super::Expand;

impl Expand<'_> {
    /// `const _: fn() = || { assert_version::<T>(); .. };`, never called.
    pub(super) fn expand_type_checks(&self) -> TokenStream {
        let p = &self.private;
        let mut checks = Vec::new();
        for f in &self.model.fields {
            let ty = f.ty;
            let span = ty.span();
            if f.skip.is_some() {
                checks.push(quote_spanned!(span=> #p::assert_skip::<#ty>();));
                continue;
            }
            // That the type is a column type at all is checked by
            // `ColumnMeta::accepts`, `<T as ColumnType>::accepts` at the
            // same span (`expand_meta`).
            if f.deleted_at.is_some() {
                checks.push(quote_spanned!(span=> #p::assert_deleted_at::<#ty>();));
            }
            if f.version.is_some() {
                checks.push(quote_spanned!(span=> #p::assert_version::<#ty>();));
            }
            if f.updated_at.is_some() {
                checks.push(quote_spanned!(span=> #p::assert_updated_at::<#ty>();));
            }
        }
        quote_spanned! {self.model.ident.span()=>
            const _: fn() = || {
                #(#checks)*
            };
        }
    }
}
