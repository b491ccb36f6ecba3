//! Generates the code, one file per generated thing: [`expand`] when
//! parsing and `check` found nothing wrong, [`fallback`] (next to the
//! errors) when they did.
//!
//! Item-level output (nameable, with the struct's visibility): `NewUser`,
//! `UserPatch`, `UserView` (with `validate_with` only) and the column consts. Everything else is an impl inside
//! `const _: () = { .. };`. Generated code names the runtime only through
//! `::strata::__private` and std only through `::core`/`::std`.

mod columns;
mod docs;
mod fallback;
mod model_impl;
mod new_struct;
mod patch_struct;
mod sql;
mod type_checks;
mod validate;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::model::{Field, Model};

/// The expansion of one model.
pub(crate) struct Expand<'a> {
    model: &'a Model<'a>,
    /// The resolved primary key; `None` only in the fallback.
    pk: Option<&'a Field<'a>>,
    /// `::strata::__private`.
    private: TokenStream,
    /// `NewUser`.
    new_ident: Ident,
    /// `UserPatch`.
    patch_ident: Ident,
    /// `UserView`, the model rule's input.
    view_ident: Ident,
}

pub(crate) use fallback::fallback;

/// Everything `#[derive(Model)]` emits for `model`.
pub(crate) fn expand(model: &Model<'_>) -> TokenStream {
    if model.primary_key().is_none() {
        // `check::primary_key` has reported this; `derive` takes the
        // fallback instead.
        return TokenStream::new();
    }
    let e = Expand::new(model);
    let new_struct = e.expand_new_struct();
    let patch_struct = e.expand_patch_struct();
    let view_struct = e.expand_view_struct();
    let columns = e.expand_columns();
    let model_impl = e.expand_model_impl();
    let soft_delete_impl = e.expand_soft_delete_impl();
    let new_impl = e.expand_new_impl();
    let patch_impl = e.expand_patch_impl();
    let type_checks = e.expand_type_checks();
    let checkers = e.expand_field_checkers();
    // The type checks come first: their messages are the ones to read.
    let impls = wrap_in_const(quote! {
        #type_checks
        #checkers
        #model_impl
        #soft_delete_impl
        #new_impl
        #patch_impl
    });
    quote! {
        #new_struct
        #patch_struct
        #view_struct
        #columns
        #impls
    }
}

impl<'a> Expand<'a> {
    fn new(model: &'a Model<'a>) -> Self {
        Expand {
            model,
            pk: model.primary_key(),
            private: quote!(::strata::__private),
            new_ident: format_ident!("New{}", model.ident),
            patch_ident: format_ident!("{}Patch", model.ident),
            view_ident: format_ident!("{}View", model.ident),
        }
    }
}

/// `const _: () = { .. };`: impls without names in the user's module.
fn wrap_in_const(tokens: TokenStream) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(
            non_upper_case_globals,
            unused_attributes,
            unused_qualifications,
            clippy::absolute_paths,
        )]
        const _: () = {
            #tokens
        };
    }
}

impl Expand<'_> {
    /// A `ParamList` body: each expression is pushed, and coerced to
    /// `&(dyn ToSql + Sync)` by the list's type.
    fn param_list(&self, params: Vec<TokenStream>) -> TokenStream {
        let p = &self.private;
        let len = params.len();
        quote! {
            let mut __strata_params: #p::ParamList<'_> = ::std::vec::Vec::with_capacity(#len);
            #(__strata_params.push(#params);)*
            __strata_params
        }
    }
}
