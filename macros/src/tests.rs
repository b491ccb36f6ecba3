//! Expansion snapshots: the derive run on a model, formatted with
//! prettyplease, compared with the reviewed output in `src/snapshots/`.

use quote::quote;

fn expand(input: proc_macro2::TokenStream) -> String {
    let output = super::derive_model_inner(input);
    match syn::parse_file(&output.to_string()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(err) => panic!("the expansion is not valid Rust ({err}):\n{output}"),
    }
}

/// The `User` model of DESIGN.md.
#[test]
fn user_model() {
    let input = quote! {
        #[derive(Model, Debug, Clone, PartialEq)]
        #[model(table = "users", soft_delete, cache(ttl_secs = 300))]
        pub struct User {
            #[model(primary_key, generated)]
            pub id: i64,
            #[validate(email, length(max = 255))]
            pub email: String,
            #[validate(length(min = 1, max = 100))]
            pub name: String,
            #[validate(range(min = 0, max = 150))]
            pub age: i32,
            pub active: bool,
            #[model(generated)]
            pub created_at: chrono::DateTime<chrono::Utc>,
            #[model(deleted_at)]
            pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
        }
    };
    insta::with_settings!({ description => input.to_string(), omit_expression => true }, {
        insta::assert_snapshot!(expand(input));
    });
}

/// Mistakes come out as `compile_error!`s, all of them.
#[test]
fn errors_are_collected() {
    let input = quote! {
        #[model(tabel = "x", soft_delete)]
        struct Thing {
            #[model(primary_key)]
            a: i64,
            #[model(primary_key, colum = "b")]
            b: i64,
        }
    };
    let output = super::derive_model_inner(input).to_string();
    assert_eq!(output.matches("compile_error").count(), 4, "{output}");
}

/// A model with mistakes: the errors, then the fallback (the nameable
/// items, the type checks and `unreachable!()` stubs of the traits).
#[test]
fn fallback_model() {
    let input = quote! {
        #[derive(Model)]
        #[model(tabel = "accounts", soft_delete)]
        pub struct Account {
            #[model(primary_key, generated)]
            pub id: i64,
            #[validate(email)]
            pub email: String,
            #[model(version)]
            pub version: i32,
        }
    };
    insta::with_settings!({ description => input.to_string(), omit_expression => true }, {
        insta::assert_snapshot!(expand(input));
    });
}
