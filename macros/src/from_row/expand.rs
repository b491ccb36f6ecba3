//! `impl ::strata::FromRow`: `resolve` finds each column by name in the
//! statement's first row (`Columns` = the positions of the required
//! columns, those of the `default` ones if present, and each flattened
//! struct's own `Columns`); `decode` reads every row by those positions.
//! Each field is read through a trait at its type's span
//! (`__private::RowValue`, `FromRow` for `flatten`, `Default`), so a type
//! that does not fit is reported at the field. The fallback is the same
//! impl with `unreachable!()` bodies.

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens as _, quote, quote_spanned};
use syn::spanned::Spanned as _;

use super::{Field, FromRow, Read};

/// The impl of a struct that passed every check.
pub(crate) fn expand(s: &FromRow<'_>) -> TokenStream {
    let p = quote!(::strata::__private);
    let row = quote!(__strata_row);
    let cols = quote!(__strata_columns);
    let (mut required, mut optional, mut nested) = (Vec::new(), Vec::new(), Vec::new());
    let fields: Vec<TokenStream> = s
        .fields
        .iter()
        .map(|f| {
            let ident = f.ident;
            let ty = f.ty;
            let column = &f.column;
            let value = match f.read() {
                Read::Column => {
                    let i = required.len();
                    required.push(quote!(#p::column_index(#row, #column)?));
                    quote_spanned!(ty.span()=> <#ty as #p::RowValue>::read(#row, #cols.0[#i], #column)?)
                }
                Read::Default => {
                    let i = optional.len();
                    optional.push(quote!(#p::column_index_opt(#row, #column)));
                    let read = quote_spanned!(ty.span()=> <#ty as #p::RowValue>::read(#row, __strata_i, #column)?);
                    let default = quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default());
                    quote! {
                        match #cols.1[#i] {
                            #p::Option::Some(__strata_i) => #read,
                            #p::Option::None => #default,
                        }
                    }
                }
                Read::Skip => quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default()),
                Read::Flatten => {
                    let i = syn::Index::from(nested.len());
                    nested.push(ty);
                    quote_spanned!(ty.span()=> <#ty as ::strata::FromRow>::decode(#row, &#cols.2.#i)?)
                }
            };
            quote!(#ident: #value)
        })
        .collect();
    let resolve_nested = nested
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> <#ty as ::strata::FromRow>::resolve(#row)?));
    // At the field's type too: a flattened type that is not `FromRow` is
    // then one error there, not a second one at the derive.
    let nested_columns = nested
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> <#ty as ::strata::FromRow>::Columns));
    let (n_required, n_optional) = (required.len(), optional.len());
    let columns_ty = quote! {
        (
            [usize; #n_required],
            [#p::Option<usize>; #n_optional],
            (#(#nested_columns,)*),
        )
    };
    imp(
        s,
        columns_ty,
        quote! {
            #p::StdResult::Ok((
                [#(#required,)*],
                [#(#optional,)*],
                (#(#resolve_nested,)*),
            ))
        },
        quote!(#p::StdResult::Ok(Self { #(#fields,)* })),
    )
}

/// What the derive emits next to its errors: the impl with `unreachable!()`
/// bodies (the build stops at the errors), so `query_as::<X>` adds no
/// error of its own. Nothing where the impl itself could not be written.
pub(crate) fn fallback(s: &FromRow<'_>) -> TokenStream {
    if !s.is_implementable() {
        return TokenStream::new();
    }
    let unreachable = quote!(::core::unreachable!("`#[derive(FromRow)]` failed"));
    imp(s, quote!(()), unreachable.clone(), unreachable)
}

/// `impl FromRow` with the given `Columns` type and method bodies, over the
/// struct's generics plus a bound per flattened field and per field whose
/// type uses a type parameter.
fn imp(
    s: &FromRow<'_>,
    columns: TokenStream,
    resolve: TokenStream,
    decode: TokenStream,
) -> TokenStream {
    let p = quote!(::strata::__private);
    let ident = s.ident;
    let mut generics = s.input.generics.clone();
    let params: Vec<String> = generics
        .type_params()
        .map(|t| t.ident.to_string())
        .collect();
    // A flattened type always gets its bound: one that is not `FromRow` is
    // then one error at the field, and `Self::Columns` still normalizes.
    let bounded = s
        .fields
        .iter()
        .filter(|f| f.read() == Read::Flatten || mentions(f.ty.to_token_stream(), &params));
    let predicates: Vec<syn::WherePredicate> = bounded.map(bound).collect();
    if !predicates.is_empty() {
        generics.make_where_clause().predicates.extend(predicates);
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics ::strata::FromRow for #ident #ty_generics #where_clause {
                type Columns = #columns;

                fn resolve(__strata_row: &#p::Row) -> #p::Result<Self::Columns> {
                    #resolve
                }

                fn decode(
                    __strata_row: &#p::Row,
                    __strata_columns: &Self::Columns,
                ) -> #p::Result<Self> {
                    #decode
                }
            }
        };
    }
}

/// What a generic field's type must implement for the way it is read.
fn bound(f: &Field<'_>) -> syn::WherePredicate {
    let ty = f.ty;
    let tokens = match f.read() {
        Read::Column => quote_spanned!(ty.span()=> #ty: ::strata::__private::RowValue),
        Read::Default => {
            quote_spanned!(ty.span()=> #ty: ::strata::__private::RowValue + ::core::default::Default)
        }
        Read::Skip => quote_spanned!(ty.span()=> #ty: ::core::default::Default),
        Read::Flatten => quote_spanned!(ty.span()=> #ty: ::strata::FromRow),
    };
    syn::parse_quote!(#tokens)
}

/// Whether `tokens` (a type) name any of the type parameters `params`.
fn mentions(tokens: TokenStream, params: &[String]) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => params.iter().any(|p| ident == p),
        TokenTree::Group(group) => mentions(group.stream(), params),
        _ => false,
    })
}
