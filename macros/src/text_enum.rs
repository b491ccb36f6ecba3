//! `#[derive(TextEnum)]`: a fieldless enum stored as text (or in a
//! PostgreSQL enum type), usable as a model column and in typed filters.
//!
//! Small enough for one file: parse the variants and their names, check
//! them (unit variants, no duplicate names), expand into
//! `::strata::TextEnum` plus `ToSql`/`FromSql`/`Display`.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::spanned::Spanned;

use crate::ctxt::Ctxt;

/// How variant names become stored text.
#[derive(Clone, Copy)]
enum Case {
    Snake,
    ScreamingSnake,
    Kebab,
    Lower,
    Verbatim,
}

const CASES: &str = "`snake_case`, `SCREAMING_SNAKE_CASE`, `kebab-case`, `lowercase`, `verbatim`";

impl Case {
    fn parse(s: &str) -> Option<Case> {
        Some(match s {
            "snake_case" => Case::Snake,
            "SCREAMING_SNAKE_CASE" => Case::ScreamingSnake,
            "kebab-case" => Case::Kebab,
            "lowercase" => Case::Lower,
            "verbatim" => Case::Verbatim,
            _ => return None,
        })
    }

    fn apply(self, ident: &str) -> String {
        let mut snake = String::new();
        for (i, c) in ident.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                snake.push('_');
            }
            snake.extend(c.to_lowercase());
        }
        match self {
            Case::Snake => snake,
            Case::ScreamingSnake => snake.to_uppercase(),
            Case::Kebab => snake.replace('_', "-"),
            Case::Lower => ident.to_lowercase(),
            Case::Verbatim => ident.to_owned(),
        }
    }
}

/// Reads `rename_all = ".."` (enum) or `rename = ".."` (variant) from
/// `#[model(..)]` attributes; `key` is the one allowed here.
fn string_key(cx: &Ctxt, attrs: &[syn::Attribute], key: &str) -> Option<syn::LitStr> {
    let mut found = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("model")) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(key) {
                // key = "value"
                found = Some(meta.value()?.parse::<syn::LitStr>()?);
                Ok(())
            } else {
                let name = meta
                    .path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                Err(meta.error(format!(
                    "unknown `model` attribute `{name}` here; expected `{key}`\n\nhelp: the correct format looks like `#[model({key} = \"...\")]`"
                )))
            }
        });
        if let Err(err) = result {
            cx.syn_error(err);
        }
    }
    found
}

pub(crate) fn derive(input: &syn::DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::default();
    let syn::Data::Enum(data) = &input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "`TextEnum` is for fieldless enums; for a struct, derive `Model`",
        ));
    };
    if !input.generics.params.is_empty() {
        cx.error(
            input.generics.span(),
            "a `TextEnum` cannot be generic; remove the type parameters",
        );
    }
    let case = match string_key(&cx, &input.attrs, "rename_all") {
        None => Case::Snake,
        Some(lit) => Case::parse(&lit.value()).unwrap_or_else(|| {
            cx.error(
                lit.span(),
                format!("unknown case `{}`; expected one of {CASES}", lit.value()),
            );
            Case::Snake
        }),
    };
    if data.variants.is_empty() {
        cx.error(
            input.ident.span(),
            "a `TextEnum` needs at least one variant",
        );
    }
    let mut names: Vec<(syn::Ident, String, Span)> = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, syn::Fields::Unit) {
            cx.error(
                variant.fields.span(),
                "a `TextEnum` variant cannot hold data; store it in a separate column",
            );
        }
        let (name, span) = match string_key(&cx, &variant.attrs, "rename") {
            Some(lit) => (lit.value(), lit.span()),
            None => (case.apply(&variant.ident.to_string()), variant.ident.span()),
        };
        if names.iter().any(|(_, n, _)| *n == name) {
            cx.error(
                span,
                format!(
                    "two variants are stored as `{name}`; give one a `#[model(rename = \"...\")]`"
                ),
            );
        }
        names.push((variant.ident.clone(), name, span));
    }
    cx.check()?;
    Ok(expand(&input.ident, &names))
}

fn expand(ident: &syn::Ident, names: &[(syn::Ident, String, Span)]) -> TokenStream {
    let variants: Vec<&syn::Ident> = names.iter().map(|(v, _, _)| v).collect();
    let texts: Vec<&str> = names.iter().map(|(_, n, _)| n.as_str()).collect();
    let p = quote!(::strata::__private);
    quote! {
        const _: () = {
            #[automatically_derived]
            impl ::strata::TextEnum for #ident {
                const VARIANTS: &'static [&'static str] = &[#(#texts),*];

                fn as_str(&self) -> &'static str {
                    match self {
                        #(#ident::#variants => #texts,)*
                    }
                }

                fn from_text(text: &str) -> #p::Option<Self> {
                    match text {
                        #(#texts => #p::Option::Some(#ident::#variants),)*
                        _ => #p::Option::None,
                    }
                }
            }

            #[automatically_derived]
            impl #p::ToSql for #ident {
                fn to_sql(
                    &self,
                    ty: &#p::Type,
                    out: &mut #p::BytesMut,
                ) -> #p::StdResult<#p::IsNull, #p::BoxError> {
                    #p::text_enum_to_sql(::strata::TextEnum::as_str(self), ty, out)
                }

                fn accepts(ty: &#p::Type) -> bool {
                    #p::text_enum_accepts(ty)
                }

                #p::to_sql_checked!();
            }

            #[automatically_derived]
            impl<'a> #p::FromSql<'a> for #ident {
                fn from_sql(
                    ty: &#p::Type,
                    raw: &'a [u8],
                ) -> #p::StdResult<Self, #p::BoxError> {
                    #p::text_enum_from_sql::<Self>(ty, raw)
                }

                fn accepts(ty: &#p::Type) -> bool {
                    #p::text_enum_accepts(ty)
                }
            }

            #[automatically_derived]
            impl ::core::fmt::Display for #ident {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.write_str(::strata::TextEnum::as_str(self))
                }
            }
        };
    }
}
