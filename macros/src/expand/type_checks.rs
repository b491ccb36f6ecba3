//! The type-dependent rules, as trait bounds at each field's type span: a
//! wrong type is reported at the user's field with the message of the
//! `__private` trait's `#[diagnostic::on_unimplemented]`.
//!
//! One rule needs the type's syntax as well: an array of arrays
//! (`Vec<Vec<i32>>`) is `ToSql` and `FromSql` like any `Vec<T>` of a
//! `ToSql` `T`, and stable Rust has no negative bound to exclude it, so
//! `model::nested_array` finds the shape (`Vec`, `[T; N]`, `Box<[T]>`,
//! through `Option`) and a trait bound, `ArrayElement`, decides whether the
//! inner type may be an array element (only `Vec<u8>`, a `bytea`, may). A
//! type alias hides the shape; such a field still fails at run time.

use proc_macro2::TokenStream;
use quote::quote_spanned;
use syn::spanned::Spanned as _;

use super::Expand;
use crate::model::nested_array;

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
            // That the type is a column type at all: the same obligation,
            // at the same span, as every other use of the type, so it is
            // reported once (see `__private::ColumnType`).
            let column_type = self.column_type(f);
            checks.push(quote_spanned!(span=> let _ = #column_type::accepts;));
            if let Some(inner) = nested_array(ty) {
                checks.push(quote_spanned!(span=> #p::assert_array_element::<#ty, #inner>();));
            }
            // Two roles on one field are `check::field_roles`' error (this
            // is then the fallback): a type fits at most one of them, so
            // checking both would only add a follow-on error.
            let roles = [f.deleted_at, f.version, f.updated_at];
            if roles.iter().flatten().count() > 1 {
                continue;
            }
            if f.deleted_at.is_some() {
                checks.push(quote_spanned!(span=> #p::assert_deleted_at::<#ty>();));
            }
            if f.version.is_some() {
                // The same use of the trait, at the same span, as the
                // `patch` statement's cast, so it is reported once.
                checks.push(quote_spanned!(span=> let _ = <#ty as #p::VersionType>::CAST;));
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
