//! `NewUser`, the insert input, and its `impl NewModel`.

use proc_macro2::TokenStream;
use quote::quote;

use super::Expand;
use crate::attr::derives;

impl Expand<'_> {
    /// `V struct NewUser { <insertable fields> }`, at item level.
    pub(super) fn expand_new_struct(&self) -> TokenStream {
        let vis = self.model.vis;
        let ident = &self.new_ident;
        let doc = self.doc_new_struct();
        let fields = self.insertable_fields(|ty| quote!(#ty), true);
        let extra = &self.model.derive_inputs;
        // An insert body with a key the model does not have is a mistake
        // to report, not to drop.
        let serde =
            derives::has(extra, "Deserialize").then(|| quote!(#[serde(deny_unknown_fields)]));
        quote! {
            #[doc = #doc]
            #[derive(::core::fmt::Debug, ::core::clone::Clone #(, #extra)*)]
            #serde
            #[allow(dead_code)]
            #vis struct #ident {
                #(#fields,)*
            }
        }
    }

    /// `V name: <ty>` with its docs for every insertable field: the fields
    /// of `NewUser` and, by reference, of `UserView`.
    /// `serde`: the fields of `NewUser` itself, which carry
    /// `#[serde(skip_deserializing)]` where the model says so.
    pub(super) fn insertable_fields(
        &self,
        ty: impl Fn(&syn::Type) -> TokenStream,
        serde: bool,
    ) -> Vec<TokenStream> {
        let vis = self.model.vis;
        let reads_bodies = serde && derives::has(&self.model.derive_inputs, "Deserialize");
        self.model
            .insertable()
            .map(|f| {
                let name = f.ident;
                let ty = ty(f.ty);
                let docs = self.field_docs(f, format!("The `{}` column.", f.column));
                // Starts at `Default::default()`; the handler sets it.
                let skip = (reads_bodies && f.skip_deserializing.is_some())
                    .then(|| quote!(#[serde(skip_deserializing)]));
                quote! {
                    #docs
                    #skip
                    #vis #name: #ty
                }
            })
            .collect()
    }

    /// `impl NewModel for NewUser`.
    pub(super) fn expand_new_impl(&self) -> TokenStream {
        let p = &self.private;
        let model = self.model.ident;
        let ident = &self.new_ident;
        let params = self.body(|_| {
            self.param_list(self.model.insertable().map(|f| self.field_ref(f)).collect())
        });
        let validate = self.body(|_| self.expand_validate_new());
        quote! {
            #[automatically_derived]
            impl #p::NewModel for #ident {
                type Model = #model;

                fn insert_params(&self) -> #p::ParamList<'_> {
                    #params
                }

                fn validate(&self) -> ::core::result::Result<(), #p::ValidationErrors> {
                    #validate
                }
            }
        }
    }
}
