//! The typed column handles: `User::EMAIL: Column<User, String>`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::ext::IdentExt as _;

use super::Expand;
use crate::case;

impl Expand<'_> {
    /// `impl User { V const EMAIL: Column<User, String> = Column::new("email"); .. }`,
    /// one const per column, named for the field.
    pub(super) fn expand_columns(&self) -> TokenStream {
        let p = &self.private;
        let vis = self.model.vis;
        let model = self.model.ident;
        let consts = self.model.columns().map(|f| {
            let name = format_ident!(
                "{}",
                case::const_name(&f.ident.unraw().to_string()),
                span = f.ident.span()
            );
            let ty = f.ty;
            let column = &f.column;
            let doc = self.doc_column(f);
            quote! {
                #[doc = #doc]
                #vis const #name: #p::Column<#model, #ty> = #p::Column::new(#column);
            }
        });
        quote! {
            #[allow(dead_code)]
            impl #model {
                #(#consts)*
            }
        }
    }
}
