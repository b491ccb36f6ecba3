//! Validation: one checker function per field with rules, the three
//! `validate` bodies that call them, and the `UserView` the model rule
//! (`#[model(validate_with = ..)]`) receives.
//!
//! Each field's rules go in one function, `__strata_validate_<field>(value:
//! &T, errors)` inside the `const _` block, whose parameter is the field's
//! type (`T` of an `Option<T>`). Every rule call in it is spanned at that
//! type, so a rule on the wrong type fails there, once, with the rule
//! trait's `on_unimplemented` message. The model, `NewUser` and `UserPatch`
//! call the same function for each field they have (a patch's only when
//! present, an `Option`'s only when `Some`).

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;

use super::Expand;
use crate::attr::meta::Spanned;
use crate::attr::validate::{Number, Rule, RuleKind};
use crate::model::Field;

/// Where a validated value lives.
#[derive(Clone, Copy)]
enum Holder {
    /// The model or `NewUser`: `self.x: T`.
    Value,
    /// `UserPatch`: `self.x: Option<T>`, checked when present.
    Patch,
}

impl Expand<'_> {
    /// `fn __strata_validate_<field>(..) { <rule calls> }` for every field
    /// with rules, inside the `const _` block.
    pub(super) fn expand_field_checkers(&self) -> TokenStream {
        let checkers = self
            .model
            .fields
            .iter()
            .filter(|f| !f.rules.is_empty())
            .map(|f| {
                let name = checker_ident(f);
                let ty = f.option_inner().unwrap_or(f.ty);
                let span = ty.span();
                let field = f.ident.unraw().to_string();
                let calls = f.rules.iter().map(|rule| rule_call(rule, &field, span));
                quote_spanned! {span=>
                    fn #name(
                        __strata_value: &#ty,
                        __strata_errors: &mut ::strata::__private::ValidationErrors,
                    ) {
                        #(#calls)*
                    }
                }
            });
        quote!(#(#checkers)*)
    }

    /// `Model::validate`: every field's rules, then the model rule.
    pub(super) fn expand_validate_model(&self) -> TokenStream {
        let fields: Vec<&Field<'_>> = self.model.fields.iter().collect();
        self.validate_body(&fields, Holder::Value, true)
    }

    /// `NewModel::validate`: the rules of the insertable fields, then the
    /// model rule.
    pub(super) fn expand_validate_new(&self) -> TokenStream {
        let fields: Vec<&Field<'_>> = self.model.insertable().collect();
        self.validate_body(&fields, Holder::Value, true)
    }

    /// `PatchModel::validate`: the rules of the fields that are present.
    /// A patch has only some fields, so the model rule does not run.
    pub(super) fn expand_validate_patch(&self) -> TokenStream {
        let fields: Vec<&Field<'_>> = self.model.writable().collect();
        self.validate_body(&fields, Holder::Patch, false)
    }

    /// `UserView<'a>`: a reference to every field `NewUser` has, what the
    /// `validate_with` function receives. Only with `validate_with`.
    pub(super) fn expand_view_struct(&self) -> TokenStream {
        let Some(path) = &self.model.validate_with else {
            return TokenStream::new();
        };
        let vis = self.model.vis;
        let ident = &self.view_ident;
        let doc = format!(
            "The fields of `{}` (and of `{}`) by reference: what the model rule `{}` checks on insert, upsert and update.",
            self.new_ident,
            self.model.ident,
            quote!(#path).to_string().replace(' ', ""),
        );
        let fields = self.insertable_fields(|ty| quote!(&'a #ty), false);
        quote! {
            #[doc = #doc]
            #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy)]
            #[allow(dead_code)]
            #vis struct #ident<'a> {
                #(#fields,)*
            }
        }
    }

    /// The body of one `validate`: `Ok(())` when nothing has rules.
    fn validate_body(
        &self,
        fields: &[&Field<'_>],
        holder: Holder,
        model_rule: bool,
    ) -> TokenStream {
        let p = &self.private;
        let checks: Vec<TokenStream> = fields
            .iter()
            .filter(|f| !f.rules.is_empty())
            .map(|f| field_check(f, holder))
            .collect();
        let model_rule = match &self.model.validate_with {
            Some(path) if model_rule => {
                let view = &self.view_ident;
                let fields = self.model.insertable().map(|f| {
                    let name = f.ident;
                    quote!(#name: &self.#name)
                });
                let call = quote_spanned! {path.span()=>
                    #path(&#view { #(#fields,)* })
                };
                Some(quote!(#p::validate::model(&mut __strata_errors, #call);))
            }
            _ => None,
        };
        if checks.is_empty() && model_rule.is_none() {
            return quote!(::core::result::Result::Ok(()));
        }
        quote! {
            let mut __strata_errors = #p::ValidationErrors::new();
            #(#checks)*
            #model_rule
            __strata_errors.into_result()
        }
    }
}

/// `__strata_validate_email`.
fn checker_ident(field: &Field<'_>) -> Ident {
    format_ident!("__strata_validate_{}", field.ident.unraw())
}

/// Calls a field's checker on the value `holder` has, if there is one.
fn field_check(field: &Field<'_>, holder: Holder) -> TokenStream {
    let name = checker_ident(field);
    let ident = field.ident;
    let some = quote!(::core::option::Option::Some);
    let pattern = match (holder, field.option_inner().is_some()) {
        (Holder::Value, false) => {
            return quote!(#name(&self.#ident, &mut __strata_errors););
        }
        (Holder::Value, true) | (Holder::Patch, false) => quote!(#some(__strata_value)),
        (Holder::Patch, true) => quote!(#some(#some(__strata_value))),
    };
    quote! {
        if let #pattern = &self.#ident {
            #name(__strata_value, &mut __strata_errors);
        }
    }
}

/// One rule's call, spanned at the field's type.
fn rule_call(rule: &Rule, field: &str, span: Span) -> TokenStream {
    let v = quote_spanned!(span=> ::strata::__private::validate);
    let args = quote_spanned!(span=> __strata_errors, #field, __strata_value);
    match &rule.kind {
        RuleKind::Email => quote_spanned!(span=> #v::email(#args);),
        RuleKind::Url => quote_spanned!(span=> #v::url(#args);),
        RuleKind::Uuid => quote_spanned!(span=> #v::uuid(#args);),
        RuleKind::NonEmpty => quote_spanned!(span=> #v::non_empty(#args);),
        RuleKind::Length { min, max } => {
            let bound = |b: &Option<Spanned<u64>>| match b {
                Some(b) => {
                    let n = Literal::u64_unsuffixed(b.value);
                    quote_spanned!(span=> ::core::option::Option::Some(#n))
                }
                None => quote_spanned!(span=> ::core::option::Option::None),
            };
            let (min, max) = (bound(min), bound(max));
            quote_spanned!(span=> #v::length(#args, #min, #max);)
        }
        RuleKind::Range { min, max } => {
            let bound = |b: &Option<Spanned<Number>>| match b {
                Some(b) => {
                    let limit = match &b.value {
                        Number::Int(n) => {
                            let n = Literal::i128_unsuffixed(*n);
                            quote_spanned!(span=> #v::Limit::Int(#n))
                        }
                        Number::Float(f, text) => {
                            let f = Literal::f64_unsuffixed(*f);
                            quote_spanned!(span=> #v::Limit::Float(#f, #text))
                        }
                    };
                    quote_spanned!(span=> ::core::option::Option::Some(#limit))
                }
                None => quote_spanned!(span=> ::core::option::Option::None),
            };
            let (min, max) = (bound(min), bound(max));
            quote_spanned!(span=> #v::range(#args, #min, #max);)
        }
        RuleKind::Pattern(lit) => quote_spanned! {span=>
            {
                static __STRATA_REGEX: #v::LazyLock<#v::Regex> =
                    #v::LazyLock::new(|| #v::regex(#lit));
                #v::pattern(#args, &__STRATA_REGEX);
            }
        },
        RuleKind::OneOf(values) => quote_spanned!(span=> #v::one_of(#args, &[#(#values),*]);),
        RuleKind::Custom(path) => {
            let call = quote_spanned!(path.span()=> #path(__strata_value));
            quote_spanned!(span=> #v::custom(__strata_errors, #field, #call);)
        }
    }
}
