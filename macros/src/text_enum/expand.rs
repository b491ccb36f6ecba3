//! `impl ::strata::TextEnum` (the variant table) plus the `ToSql`,
//! `FromSql` and `Display` impls, which only call `TextEnum::as_str` and
//! the runtime's text encoding. The fallback keeps those three and stubs
//! the variant table, so a column of the enum, a filter on it or a
//! `Display` of it adds no error next to the derive's own.

use proc_macro2::TokenStream;
use quote::quote;

use super::TextEnum;

/// The impls of a `TextEnum` that passed every check.
pub(crate) fn expand(e: &TextEnum<'_>) -> TokenStream {
    let ident = e.ident;
    let variants: Vec<_> = e.variants.iter().map(|v| v.ident).collect();
    let texts: Vec<&str> = e.variants.iter().map(|v| v.name.as_str()).collect();
    // Old spellings decode too, unless a variant is stored that way or an
    // earlier variant had the same old spelling.
    let mut legacy_variants = Vec::new();
    let mut legacy_texts: Vec<&str> = Vec::new();
    for v in &e.variants {
        if let Some(old) = v.legacy.as_deref()
            && !texts.contains(&old)
            && !legacy_texts.contains(&old)
        {
            legacy_variants.push(v.ident);
            legacy_texts.push(old);
        }
    }
    let p = quote!(::strata::__private);
    impls(
        e,
        quote! {
            const VARIANTS: &'static [&'static str] = &[#(#texts),*];

            fn as_str(&self) -> &'static str {
                match self {
                    #(#ident::#variants => #texts,)*
                }
            }

            fn from_text(text: &str) -> #p::Option<Self> {
                match text {
                    #(#texts => #p::Option::Some(#ident::#variants),)*
                    #(#legacy_texts => #p::Option::Some(#ident::#legacy_variants),)*
                    _ => #p::Option::None,
                }
            }
        },
    )
}

/// What the derive emits next to its errors: the same impls with an
/// `unreachable!()` variant table (the build stops at the errors). Nothing
/// for a struct, a union or a generic enum, where the impls would fail too.
pub(crate) fn fallback(e: &TextEnum<'_>) -> TokenStream {
    if e.not_an_enum.is_some() || e.is_generic() {
        return TokenStream::new();
    }
    let p = quote!(::strata::__private);
    let unreachable = quote!(::core::unreachable!("`#[derive(TextEnum)]` failed"));
    impls(
        e,
        quote! {
            const VARIANTS: &'static [&'static str] = &[];

            fn as_str(&self) -> &'static str {
                #unreachable
            }

            fn from_text(_: &str) -> #p::Option<Self> {
                #unreachable
            }
        },
    )
}

/// `impl TextEnum` with `body`, and the impls built on it.
fn impls(e: &TextEnum<'_>, body: TokenStream) -> TokenStream {
    let ident = e.ident;
    let p = quote!(::strata::__private);
    quote! {
        const _: () = {
            #[automatically_derived]
            impl ::strata::TextEnum for #ident {
                #body
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
