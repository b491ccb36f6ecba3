//! `#[strata::test]`: an `async fn` taking the database becomes a `#[test]`
//! that runs it on its own runtime against a fresh schema
//! (`strata::testing::TestDb`).
//!
//! The expansion keeps the user's function as an inner item and hands it
//! to `::strata::__private::testing::run`, which builds the runtime, creates
//! the schema, runs the migrations, calls the function and drops the
//! schema. The argument's type is checked next to the test, outside the
//! `#[test]` function, so a wrong type is reported in every build (a
//! `#[test]` function is compiled only by `cargo test`).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;

/// The options between the parentheses.
#[derive(Default)]
struct Options {
    /// `migrations = "dir"`: the folder, relative to the crate's Cargo.toml.
    migrations: Option<syn::LitStr>,
    /// `redis`: the handle gets the Redis cache tier.
    redis: Option<Span>,
}

/// What the options say, one `syn::Error` for every mistake found.
fn parse_options(args: TokenStream, errors: &mut Vec<syn::Error>) -> Options {
    let mut options = Options::default();
    if args.is_empty() {
        return options;
    }
    let parser = Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated;
    let metas = match syn::parse::Parser::parse2(parser, args) {
        Ok(metas) => metas,
        Err(err) => {
            errors.push(syn::Error::new(
                err.span(),
                format!("{err}; `#[strata::test]` takes `migrations = \"dir\"` and `redis`"),
            ));
            return options;
        }
    };
    for meta in metas {
        let path = meta.path();
        let name = path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match name.as_str() {
            "migrations" => {
                let value = match &meta {
                    syn::Meta::NameValue(nv) => match &nv.value {
                        syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(lit),
                            ..
                        }) => Some(lit.clone()),
                        other => {
                            errors.push(syn::Error::new_spanned(
                                other,
                                "`migrations` takes the folder as a string literal, relative to the crate's Cargo.toml: `migrations = \"migrations\"`",
                            ));
                            None
                        }
                    },
                    _ => {
                        errors.push(syn::Error::new_spanned(
                            &meta,
                            "`migrations` needs a folder: `migrations = \"migrations\"`, relative to the crate's Cargo.toml",
                        ));
                        None
                    }
                };
                if options.migrations.is_some() {
                    errors.push(syn::Error::new_spanned(
                        path,
                        "duplicate `migrations` option",
                    ));
                } else if value.is_some() {
                    options.migrations = value;
                }
            }
            "redis" => {
                if !matches!(meta, syn::Meta::Path(_)) {
                    errors.push(syn::Error::new_spanned(
                        &meta,
                        "`redis` takes no value: write `#[strata::test(redis)]`",
                    ));
                } else if options.redis.is_some() {
                    errors.push(syn::Error::new_spanned(path, "duplicate `redis` option"));
                } else {
                    options.redis = Some(path.span());
                }
            }
            _ => errors.push(syn::Error::new_spanned(
                path,
                format!(
                    "unknown `#[strata::test]` option `{}`; it takes `migrations = \"dir\"` and `redis`",
                    quote!(#path).to_string().replace(' ', "")
                ),
            )),
        }
    }
    options
}

/// `#[test]`, `#[tokio::test]` and the like.
fn is_test_attr(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "test")
}

/// The argument's type, after checking the signature; mistakes go to `errors`.
fn check_signature<'a>(
    func: &'a syn::ItemFn,
    errors: &mut Vec<syn::Error>,
) -> Option<&'a syn::Type> {
    let sig = &func.sig;
    for attr in func.attrs.iter().filter(|a| is_test_attr(a)) {
        errors.push(syn::Error::new_spanned(
            attr,
            "`#[strata::test]` already makes this function a test: remove this attribute",
        ));
    }
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            "`#[strata::test]` needs an `async fn`",
        ));
    }
    if let Some(c) = &sig.constness {
        errors.push(syn::Error::new_spanned(
            c,
            "a `#[strata::test]` function cannot be `const`",
        ));
    }
    if let Some(u) = &sig.unsafety {
        errors.push(syn::Error::new_spanned(
            u,
            "a `#[strata::test]` function cannot be `unsafe`",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a `#[strata::test]` function cannot be generic",
        ));
    }
    let shape = "`db: strata::Db` or `db: strata::testing::TestDb`";
    let mut inputs = sig.inputs.iter();
    let ty = match inputs.next() {
        None => {
            errors.push(syn::Error::new(
                sig.paren_token.span.join(),
                format!("a `#[strata::test]` function takes the database as its argument: {shape}"),
            ));
            None
        }
        Some(syn::FnArg::Receiver(r)) => {
            errors.push(syn::Error::new_spanned(
                r,
                format!("a `#[strata::test]` function cannot take `self`; it takes the database: {shape}"),
            ));
            None
        }
        Some(syn::FnArg::Typed(arg)) => Some(&*arg.ty),
    };
    for extra in inputs {
        errors.push(syn::Error::new_spanned(
            extra,
            format!("a `#[strata::test]` function takes one argument, the database ({shape}); remove this one"),
        ));
    }
    if let Some(v) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            v,
            "a `#[strata::test]` function cannot be variadic",
        ));
    }
    ty
}

/// The attribute on `proc_macro2` tokens, so unit tests can run it.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Vec::new();
    let options = parse_options(args, &mut errors);
    let func: syn::ItemFn = match syn::parse2(item) {
        Ok(func) => func,
        Err(err) => {
            let err = syn::Error::new(
                err.span(),
                format!("{err}: `#[strata::test]` goes on an `async fn` taking the database"),
            );
            errors.push(err);
            return to_compile_errors(errors);
        }
    };
    let ty = check_signature(&func, &mut errors);
    let Some(ty) = ty.filter(|_| errors.is_empty()) else {
        let mut tokens = to_compile_errors(errors);
        tokens.extend(fallback(func));
        return tokens;
    };

    let attrs = &func.attrs;
    let vis = &func.vis;
    let name = &func.sig.ident;
    let output = &func.sig.output;
    let mut inner = func.clone();
    inner.attrs.clear();
    inner.vis = syn::Visibility::Inherited;
    // The migrations are embedded next to the test, not in it, so that a
    // folder that does not hold migrations fails every build.
    let (migrations, embedded) = match &options.migrations {
        Some(dir) => {
            let set = quote::format_ident!("__STRATA_TEST_MIGRATIONS_{}", name);
            (
                quote!(::core::option::Option::Some(#set)),
                quote! {
                    #[allow(dead_code, non_upper_case_globals)]
                    #[doc(hidden)]
                    const #set: &[::strata::migrate::EmbeddedMigration] =
                        ::strata::embed_migrations!(#dir);
                },
            )
        }
        None => (quote!(::core::option::Option::None), quote!()),
    };
    let redis = options.redis.is_some();
    let check = quote_spanned! {ty.span()=>
        ::strata::__private::testing::check_arg::<#ty>
    };
    quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() #output {
            #inner
            ::strata::__private::testing::run(
                ::strata::__private::testing::Setup {
                    migrations: #migrations,
                    redis: #redis,
                },
                #name,
            )
        }

        // The argument's type, checked in every build: `cargo build` and
        // `cargo check` skip the `#[test]` function above.
        const _: () = {
            let _ = #check;
        };

        #embedded
    }
}

/// What is emitted next to the errors: the function itself, `async` and
/// without its test attributes, so that its body and the imports it uses
/// add no errors or warnings of their own.
fn fallback(mut func: syn::ItemFn) -> TokenStream {
    func.attrs.retain(|attr| !is_test_attr(attr));
    if func.sig.asyncness.is_none() {
        func.sig.asyncness = Some(syn::Token![async](func.sig.fn_token.span));
    }
    quote! {
        #[allow(dead_code)]
        #func
    }
}

fn to_compile_errors(errors: Vec<syn::Error>) -> TokenStream {
    errors.iter().map(syn::Error::to_compile_error).collect()
}
