//! The relation consts: `Deal::CUSTOMER: BelongsTo<Deal, Customer>` and
//! `Deal::SCENARIOS: HasMany<Deal, Scenario>`, one per
//! `#[model(belongs_to(..))]` / `#[model(has_many(..))]`. Nothing for a
//! model without relations, so its expansion is what it was before
//! relations existed.
//!
//! The key's type rule is the key reader itself: `key_of::<Field, Key>`,
//! spanned at the field's type (`belongs_to`) or at `key = ..`
//! (`has_many`, whose field is the target's), so a field that cannot hold
//! the related key is reported there with `HoldsKey`'s message.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

use super::Expand;
use crate::attr::relation::{Relation, RelationKind};
use crate::case;

impl Expand<'_> {
    /// `impl Deal { V const CUSTOMER: BelongsTo<Deal, Customer> = ..; .. }`.
    pub(super) fn expand_relations(&self) -> TokenStream {
        if self.model.relations.is_empty() {
            return TokenStream::new();
        }
        let model = self.model.ident;
        let relations = &self.model.relations;
        // A name taken by an earlier relation or by a column const is
        // `check::relations`' error (this is then the fallback): emitting
        // it again would only add rustc's "duplicate definitions".
        let taken = |i: usize, r: &Relation| {
            relations[..i].iter().any(|e| e.name == r.name)
                || self
                    .model
                    .columns()
                    .any(|f| r.name == case::const_name(&f.ident.unraw().to_string()))
        };
        let consts = relations.iter().enumerate().filter(|(i, r)| !taken(*i, r));
        let consts = consts.map(|(_, r)| match r.kind {
            RelationKind::BelongsTo => self.belongs_to(r),
            RelationKind::HasMany => self.has_many(r),
        });
        quote! {
            #[allow(dead_code)]
            impl #model {
                #(#consts)*
            }
        }
    }

    fn belongs_to(&self, r: &Relation) -> TokenStream {
        let p = &self.private;
        let (vis, model, target, name) = (self.model.vis, self.model.ident, &r.target, &r.name);
        let field = r.key.as_ref().and_then(|k| self.model.column_field(k));
        let key = quote_spanned!(r.target.span()=> <#target as #p::Model>::Key);
        // A relation without a usable key (only in the fallback, next to
        // that error) reads none.
        let read = match field {
            Some(f) => {
                let (ty, ident) = (f.ty, f.ident);
                let get = quote_spanned!(ty.span()=> #p::relation::key_of::<#ty, #key>);
                quote!(|__strata_row| #get(&__strata_row.#ident))
            }
            _ => quote!(|_| #p::Option::None),
        };
        let assert = quote_spanned!(r.span=> #p::relation::assert_relation_key::<#key>);
        let doc = format!(
            " The `belongs_to` relation to `{target}` through `{key}`: `{model}::query().include({model}::{name})` pairs each `{model}` with `Option<{target}>`.",
            target = r.target_name(),
            key = key_text(r),
        );
        let text = name.unraw().to_string().to_lowercase();
        let pick = self.pick(target, quote!(cached_load));
        quote! {
            #[doc = #doc]
            #vis const #name: #p::relation::BelongsTo<#model, #target> = {
                let _ = #assert;
                #p::relation::BelongsTo::new(
                    #text,
                    #read,
                    #pick,
                )
            };
        }
    }

    /// A closure that picks, where the target type is known, its cached
    /// loader (`method` of `ViaCache`) or none (`ViaQuery`).
    fn pick(&self, target: &impl ToTokens, method: TokenStream) -> TokenStream {
        let p = &self.private;
        quote! {
            || {
                #[allow(unused_imports)]
                use #p::relation::{ViaCache as _, ViaQuery as _};
                (&&#p::relation::Pick::<#target>::new()).#method()
            }
        }
    }

    fn has_many(&self, r: &Relation) -> TokenStream {
        let p = &self.private;
        let (vis, model, target, name) = (self.model.vis, self.model.ident, &r.target, &r.name);
        let key = quote_spanned!(r.span=> <#model as #p::Model>::Key);
        let (column, read) = match &r.key {
            Some(k) => {
                let column = syn::Ident::new(&case::const_name(&k.unraw().to_string()), k.span());
                let get = quote_spanned!(k.span()=> #p::relation::key_of::<_, #key>);
                (
                    quote_spanned!(k.span()=> <#target>::#column.name()),
                    quote!(|__strata_row| #get(&__strata_row.#k)),
                )
            }
            None => (quote!(""), quote!(|_| #p::Option::None)),
        };
        let assert = quote_spanned!(r.span=> #p::relation::assert_relation_key::<#key>);
        let doc = format!(
            " The `has_many` relation to the `{target}`s whose `{key}` holds this row's key: `{model}::query().include({model}::{name})` pairs each `{model}` with `Vec<{target}>`.",
            target = r.target_name(),
            key = key_text(r),
        );
        let text = name.unraw().to_string().to_lowercase();
        let pick = self.pick(target, quote!(cached_list));
        quote! {
            #[doc = #doc]
            #vis const #name: #p::relation::HasMany<#model, #target> = {
                let _ = #assert;
                #p::relation::HasMany::new(
                    #text,
                    #column,
                    #read,
                    #pick,
                )
            };
        }
    }
}

/// The key field's name, for the docs.
fn key_text(r: &Relation) -> String {
    r.key
        .as_ref()
        .map(|k| k.unraw().to_string())
        .unwrap_or_default()
}
