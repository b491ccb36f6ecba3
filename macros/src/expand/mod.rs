//! Generates the code, one file per generated thing. One expansion serves
//! both outcomes of `check`: [`expand`] when it found nothing wrong, and
//! [`fallback`] (next to the errors) when it did. The fallback emits the
//! same nameable items, type checks and rule checkers, and the same trait
//! impls with `unreachable!()` bodies (see [`Expand::body`]): the build
//! stops at the derive's errors and never runs them, and the user's code
//! that uses the model adds no errors of its own (thiserror's
//! `fallback.rs`, serde's dummy impls).
//!
//! Item-level output (nameable, with the struct's visibility): `NewUser`,
//! `UserPatch`, `UserView` (with `validate_with` only) and the column
//! consts. Everything else is an impl inside `const _: () = { .. };`.
//! Generated code names the runtime only through `::strata::__private` and
//! std only through `::core`/`::std`.

mod columns;
mod docs;
mod model_impl;
mod new_struct;
mod patch_struct;
mod relations;
mod sql;
mod type_checks;
mod validate;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned as _;

use crate::model::{Field, Model, Shape};

/// Which bodies the generated trait impls get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The model passed every check: the real bodies.
    Full,
    /// Next to the derive's errors: `unreachable!()` bodies.
    Fallback,
}

/// The expansion of one model.
pub(crate) struct Expand<'a> {
    model: &'a Model<'a>,
    mode: Mode,
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

/// Everything `#[derive(Model)]` emits for a model without mistakes.
pub(crate) fn expand(model: &Model<'_>) -> TokenStream {
    Expand::new(model, Mode::Full).expand_all()
}

/// What `#[derive(Model)]` emits next to its errors. Nothing for an enum,
/// a tuple or unit struct, or a generic struct, where the items and stubs
/// would fail themselves.
pub(crate) fn fallback(model: &Model<'_>) -> TokenStream {
    let generics = &model.input.generics;
    if !matches!(model.shape, Shape::Named)
        || !generics.params.is_empty()
        || generics.where_clause.is_some()
    {
        return TokenStream::new();
    }
    Expand::new(model, Mode::Fallback).expand_all()
}

impl<'a> Expand<'a> {
    fn new(model: &'a Model<'a>, mode: Mode) -> Self {
        Expand {
            model,
            mode,
            pk: model.primary_key(),
            private: quote!(::strata::__private),
            new_ident: format_ident!("New{}", model.ident),
            patch_ident: format_ident!("{}Patch", model.ident),
            view_ident: format_ident!("{}View", model.ident),
        }
    }

    /// The nameable items, then the impls inside one `const _`.
    fn expand_all(&self) -> TokenStream {
        let new_struct = self.expand_new_struct();
        let patch_struct = self.expand_patch_struct();
        let view_struct = self.expand_view_struct();
        let columns = self.expand_columns();
        let relations = self.expand_relations();
        let type_checks = self.expand_type_checks();
        let checkers = self.expand_field_checkers();
        let checkers = match self.mode {
            Mode::Full => checkers,
            // The stub bodies call none of them, nor the model rule.
            Mode::Fallback => {
                let model_rule = self
                    .model
                    .validate_with
                    .as_ref()
                    .map(|path| quote_spanned!(path.span()=> let _ = #path;));
                quote! {
                    #[allow(dead_code)]
                    const _: () = {
                        #checkers
                        #model_rule
                    };
                }
            }
        };
        let model_impl = self.expand_model_impl();
        let soft_delete_impl = self.expand_soft_delete_impl();
        let scope_impls = self.expand_scope_impls();
        let new_impl = self.expand_new_impl();
        let patch_impl = self.expand_patch_impl();
        // The type checks come first: their messages are the ones to read.
        let impls = wrap_in_const(quote! {
            #type_checks
            #checkers
            #model_impl
            #soft_delete_impl
            #scope_impls
            #new_impl
            #patch_impl
        });
        quote! {
            #new_struct
            #patch_struct
            #view_struct
            #columns
            #relations
            #impls
        }
    }

    /// The primary key when the real bodies are generated; `None` in the
    /// fallback (a model without mistakes always has its key).
    fn full(&self) -> Option<&'a Field<'a>> {
        match self.mode {
            Mode::Full => self.pk,
            Mode::Fallback => None,
        }
    }

    /// A generated method's body: `real(pk)` in a full expansion,
    /// `unreachable!()` in the fallback.
    fn body(&self, real: impl FnOnce(&'a Field<'a>) -> TokenStream) -> TokenStream {
        self.full().map_or_else(
            || quote!(::core::unreachable!("`#[derive(Model)]` failed")),
            real,
        )
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
