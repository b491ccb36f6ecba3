//! Expansion snapshot of `#[derive(FromRow)]`, formatted with prettyplease
//! and compared with the reviewed output in `snapshots/`.

use quote::quote;

fn expand(input: proc_macro2::TokenStream) -> String {
    let output = crate::parsed(input, |input| crate::pipeline::<super::FromRow<'_>>(input));
    match syn::parse_file(&output.to_string()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(err) => panic!("the expansion is not valid Rust ({err}):\n{output}"),
    }
}

/// Every way of reading a field, on a generic struct that also derives
/// `Model`: required and `default` columns by position, `skip` and
/// `#[model(skip)]` as `Default`, a flattened struct's own columns, and a
/// bound on each field that uses the type parameter.
#[test]
fn every_key() {
    let input = quote! {
        #[derive(Model, FromRow)]
        pub struct Report<T> {
            id: i64,
            #[model(column = "title_text")]
            title: String,
            #[from_row(rename = "total")]
            value: T,
            #[from_row(default)]
            posts: i64,
            #[from_row(skip)]
            note: String,
            #[model(skip)]
            seen: bool,
            #[from_row(flatten)]
            address: Address,
        }
    };
    insta::with_settings!({ description => input.to_string(), omit_expression => true }, {
        insta::assert_snapshot!(expand(input));
    });
}

/// Mistakes come out as `compile_error!`s, all of them, then the stub impl.
#[test]
fn errors_are_collected() {
    let input = quote! {
        struct Thing {
            #[from_row(renam = "x")]
            a: i64,
            #[from_row(skip, rename = "a")]
            b: i64,
            #[from_row(rename = "a")]
            c: i64,
        }
    };
    let output = expand(input);
    assert_eq!(output.matches("compile_error").count(), 3, "{output}");
    assert!(output.contains("unreachable"), "{output}");
}
