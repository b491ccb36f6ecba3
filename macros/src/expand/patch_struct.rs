//! `UserPatch`, the partial update, and its `impl PatchModel`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::Expand;
use crate::attr::derives;
use crate::model::Field;

impl Expand<'_> {
    /// `V struct UserPatch { <writable>: Option<T>, [version: Option<I>] }`.
    pub(super) fn expand_patch_struct(&self) -> TokenStream {
        let vis = self.model.vis;
        let ident = &self.patch_ident;
        let doc = self.doc_patch_struct();
        let mut fields: Vec<TokenStream> = self
            .model
            .writable()
            .map(|f| {
                let name = f.ident;
                let ty = f.ty;
                let docs = self.field_docs(
                    f,
                    format!("The new `{}`, or `None` to leave it as it is.", f.column),
                );
                let serde =
                    self.patch_serde(f.option_inner().is_some(), f.skip_deserializing.is_some());
                quote! {
                    #docs
                    #serde
                    #vis #name: ::core::option::Option<#ty>
                }
            })
            .collect();
        if let Some(version) = self.model.version() {
            let name = version.ident;
            let ty = version.ty;
            let doc = format!(
                "The `{}` the row must still have for the patch to apply (optimistic locking); `None` applies it whatever the version.",
                version.column
            );
            let serde = self.patch_serde(false, version.skip_deserializing.is_some());
            fields.push(quote! {
                #[doc = #doc]
                #serde
                #vis #name: ::core::option::Option<#ty>
            });
        }
        let extra = &self.model.derive_inputs;
        // Absent keys leave columns as they are; a key the model does not
        // have is a typo to report, not a patch that silently does nothing.
        let serde = derives::has(extra, "Deserialize")
            .then(|| quote!(#[serde(default, deny_unknown_fields)]));
        quote! {
            #[doc = #doc]
            #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::default::Default #(, #extra)*)]
            #serde
            #[allow(dead_code)]
            #vis struct #ident {
                #(#fields,)*
            }
        }
    }

    /// The serde attributes of one patch field, when the patch derives
    /// serde's traits: `None` is not written out; a JSON `null` reads as
    /// `Some(None)` (set NULL) on a nullable column, not as "absent", and
    /// is an error on any other.
    fn patch_serde(&self, nullable: bool, skip: bool) -> TokenStream {
        let extra = &self.model.derive_inputs;
        let mut out = TokenStream::new();
        if derives::has(extra, "Serialize") {
            out.extend(quote!(#[serde(skip_serializing_if = "::core::option::Option::is_none")]));
        }
        if skip && derives::has(extra, "Deserialize") {
            // `#[model(skip_deserializing)]`: always `None` from a body.
            out.extend(quote!(#[serde(skip_deserializing)]));
        } else if derives::has(extra, "Deserialize") {
            let helper = if nullable {
                "patch_nullable"
            } else {
                "patch_required"
            };
            let with = format!("{}::{helper}", self.private).replace(' ', "");
            out.extend(quote!(#[serde(deserialize_with = #with)]));
        }
        out
    }

    /// `impl PatchModel for UserPatch`: a flag and a value per writable
    /// field, then the expected version.
    pub(super) fn expand_patch_impl(&self) -> TokenStream {
        let p = &self.private;
        let model = self.model.ident;
        let ident = &self.patch_ident;
        let params = self.body(|_| self.patch_params());
        let shape = self.body(|_| self.patch_shape());
        let present = self.body(|_| self.present_params());
        let validate = self.body(|_| self.expand_validate_patch());
        quote! {
            #[automatically_derived]
            impl #p::PatchModel for #ident {
                type Model = #model;

                fn patch_params(&self) -> #p::ParamList<'_> {
                    #params
                }

                fn shape(&self) -> ::core::option::Option<u64> {
                    #shape
                }

                fn present_params(&self) -> #p::ParamList<'_> {
                    #present
                }

                fn validate(&self) -> ::core::result::Result<(), #p::ValidationErrors> {
                    #validate
                }
            }
        }
    }

    /// The fields a patch may have: the writable ones, then the version.
    fn optional(&self) -> Vec<&Field<'_>> {
        self.model.writable().chain(self.model.version()).collect()
    }

    /// `patch_params`: a flag and a value per writable field, then the
    /// expected version.
    fn patch_params(&self) -> TokenStream {
        let p = &self.private;
        let mut params = Vec::new();
        for f in self.model.writable() {
            let name = f.ident;
            params.push(quote!(#p::flag(&self.#name)));
            params.push(self.patch_field_ref(f));
        }
        params.extend(self.model.version().map(|f| self.patch_field_ref(f)));
        self.param_list(params)
    }

    /// `shape`: bit i, writable field i is present; the bit after the last
    /// field, the expected version is. Past 64 bits, every patch takes the
    /// one fixed statement.
    fn patch_shape(&self) -> TokenStream {
        let optional = self.optional();
        if optional.len() > 64 {
            return quote!(::core::option::Option::None);
        }
        let bits = optional.iter().enumerate().map(|(i, f)| {
            let name = f.ident;
            let bit = 1u64 << i;
            quote!(if self.#name.is_some() { __strata_shape |= #bit; })
        });
        quote! {
            let mut __strata_shape: u64 = 0;
            #(#bits)*
            ::core::option::Option::Some(__strata_shape)
        }
    }

    /// `present_params`: the field itself (`&Option<T>`, which binds as its
    /// value when `Some`), pushed the way `patch_params` pushes it: a field
    /// type that cannot be bound is then reported once, not once per method.
    fn present_params(&self) -> TokenStream {
        let p = &self.private;
        let optional = self.optional();
        let capacity = optional.len() + 1;
        let present = optional.iter().map(|f| {
            let name = f.ident;
            let value = self.patch_field_ref(f);
            quote_spanned!(f.ty.span()=> if self.#name.is_some() {
                __strata_params.push(#value);
            })
        });
        quote! {
            let mut __strata_params: #p::ParamList<'_> = ::std::vec::Vec::with_capacity(#capacity);
            #(#present)*
            __strata_params
        }
    }
}
