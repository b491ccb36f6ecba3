//! What the derive emits next to its errors, so that they are the only
//! errors of the build (thiserror's `fallback.rs`, serde's dummy impls).
//!
//! Without it, every use of the model in the user's crate would add an
//! error of its own (`NewUser` not found, `User::insert` not satisfied,
//! `User::EMAIL` missing), and the type rules (`version` an integer, every
//! column storable, each rule's field type) would wait for the build after
//! the attributes are fixed. So the fallback emits the same nameable items
//! as a good expansion (`NewUser`, `UserPatch`, `UserView`, the column
//! consts), the same type checks and rule checkers, and stub impls of the
//! traits whose bodies are `unreachable!()`: the build stops at the
//! derive's errors and never runs them. Nothing of it is emitted for an
//! enum, a tuple or unit struct, or a generic struct, where a stub would
//! itself fail.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned as _;

use super::{Expand, wrap_in_const};
use crate::model::{Model, Shape};

/// The items and stubs for a model the derive reported errors for.
pub(crate) fn fallback(model: &Model<'_>) -> TokenStream {
    let generics = &model.input.generics;
    if !matches!(model.shape, Shape::Named)
        || !generics.params.is_empty()
        || generics.where_clause.is_some()
    {
        return TokenStream::new();
    }
    let e = Expand::new(model);
    let new_struct = e.expand_new_struct();
    let patch_struct = e.expand_patch_struct();
    let view_struct = e.expand_view_struct();
    let columns = e.expand_columns();
    let type_checks = e.expand_type_checks();
    let checkers = e.expand_field_checkers();
    let stubs = e.expand_stub_impls();
    let impls = wrap_in_const(quote! {
        #type_checks
        #[allow(dead_code)]
        const _: () = {
            #checkers
        };
        #stubs
    });
    quote! {
        #new_struct
        #patch_struct
        #view_struct
        #columns
        #impls
    }
}

impl Expand<'_> {
    /// `impl Model for User`, `NewModel for NewUser`, `PatchModel for
    /// UserPatch` (and `SoftDelete` when soft delete was asked for), with
    /// `unreachable!()` bodies.
    fn expand_stub_impls(&self) -> TokenStream {
        let p = &self.private;
        let ident = self.model.ident;
        let new_ident = &self.new_ident;
        let patch_ident = &self.patch_ident;
        // Without a primary key, the usual one.
        let key_ty = self.pk.map_or_else(
            || quote!(i64),
            |pk| {
                let ty = pk.ty;
                quote!(#ty)
            },
        );
        let unreachable = quote!(::core::unreachable!("`#[derive(Model)]` failed"));
        let soft_delete = self.model.soft_delete.is_some()
            || self.model.columns().any(|f| f.deleted_at.is_some());
        let soft_delete = soft_delete.then(|| {
            quote! {
                #[automatically_derived]
                impl #p::SoftDelete for #ident {}
            }
        });
        // The model rule is referenced, so it is not reported as unused.
        let model_rule = self.model.validate_with.as_ref().map(|path| {
            quote_spanned! {path.span()=>
                const _: () = {
                    let _ = #path;
                };
            }
        });
        quote! {
            #[automatically_derived]
            impl #p::Model for #ident {
                type Key = #key_ty;
                type New = #new_ident;
                type Patch = #patch_ident;

                const META: &'static #p::ModelMeta = &#p::FALLBACK_META;

                fn from_row(_: &#p::Row) -> #p::Result<Self> {
                    #unreachable
                }

                fn key(&self) -> &Self::Key {
                    #unreachable
                }

                fn update_params(&self) -> #p::ParamList<'_> {
                    #unreachable
                }

                fn validate(&self) -> ::core::result::Result<(), #p::ValidationErrors> {
                    #unreachable
                }
            }

            #soft_delete

            #[automatically_derived]
            impl #p::NewModel for #new_ident {
                type Model = #ident;

                fn insert_params(&self) -> #p::ParamList<'_> {
                    #unreachable
                }

                fn validate(&self) -> ::core::result::Result<(), #p::ValidationErrors> {
                    #unreachable
                }
            }

            #[automatically_derived]
            impl #p::PatchModel for #patch_ident {
                type Model = #ident;

                fn patch_params(&self) -> #p::ParamList<'_> {
                    #unreachable
                }

                fn shape(&self) -> ::core::option::Option<u64> {
                    #unreachable
                }

                fn present_params(&self) -> #p::ParamList<'_> {
                    #unreachable
                }

                fn validate(&self) -> ::core::result::Result<(), #p::ValidationErrors> {
                    #unreachable
                }
            }

            #model_rule
        }
    }
}
