//! Expansion snapshots: the derive run on a model (and `#[strata::test]` on
//! a test), formatted with prettyplease, compared with the reviewed output
//! in `src/snapshots/`.

use quote::quote;

fn expand(input: proc_macro2::TokenStream) -> String {
    pretty(super::derive_model_inner(input))
}

fn pretty(output: proc_macro2::TokenStream) -> String {
    match syn::parse_file(&output.to_string()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(err) => panic!("the expansion is not valid Rust ({err}):\n{output}"),
    }
}

/// The `User` model of DESIGN.md, read from the UI test that proves it
/// compiles, so both test one definition.
#[test]
fn user_model() {
    let file = syn::parse_file(include_str!("../../tests/tests/ui-pass/design_user.rs"))
        .expect("design_user.rs parses");
    let user = file
        .items
        .iter()
        .find_map(|item| match item {
            syn::Item::Struct(s) if s.ident == "User" => Some(s),
            _ => None,
        })
        .expect("design_user.rs defines `User`");
    let input = quote!(#user);
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

/// `derive_inputs(..)`: the two input structs, with the extra derives and
/// the serde attributes that make a JSON body mean what it says.
#[test]
fn derive_inputs_model() {
    let input = quote! {
        #[model(table = "profiles", derive_inputs(serde::Serialize, serde::Deserialize, PartialEq))]
        pub struct Profile {
            #[model(primary_key, generated)]
            pub id: i64,
            pub name: String,
            pub bio: Option<String>,
            #[model(version)]
            pub version: i32,
        }
    };
    let file = syn::parse_file(&expand(input)).expect("the expansion parses");
    let inputs: Vec<syn::Item> = file
        .items
        .into_iter()
        .filter(|item| {
            matches!(item, syn::Item::Struct(s) if s.ident == "NewProfile" || s.ident == "ProfilePatch")
        })
        .collect();
    assert_eq!(inputs.len(), 2);
    let shown = prettyplease::unparse(&syn::File {
        shebang: None,
        attrs: Vec::new(),
        items: inputs,
    });
    insta::assert_snapshot!(shown);
}

/// `#[strata::test]` with both options: the test function around the
/// user's, the argument check and the embedded migrations beside it.
#[test]
fn strata_test_attribute() {
    let args = quote!(migrations = "migrations", redis);
    let item = quote! {
        /// Inserts a user.
        #[ignore = "slow"]
        async fn inserts_a_user(db: Db) -> strata::Result<()> {
            db.execute("SELECT 1", &[]).await?;
            Ok(())
        }
    };
    let description = format!("#[strata::test({args})] {item}");
    insta::with_settings!({ description => description, omit_expression => true }, {
        insta::assert_snapshot!(pretty(super::test_attr::expand(args, item)));
    });
}

/// Mistakes are `compile_error!`s, all of them, followed by the function
/// (made `async`, without `#[test]`) so its body adds no errors of its own.
#[test]
fn strata_test_errors_are_collected() {
    let args = quote!(flavor = "multi_thread", redis = 1);
    let item = quote! {
        #[test]
        fn not_async(db: Db, extra: i32) {}
    };
    let output = pretty(super::test_attr::expand(args, item));
    assert_eq!(output.matches("compile_error").count(), 5, "{output}");
    assert!(
        output.contains("#[allow(dead_code)]\nasync fn not_async"),
        "{output}"
    );
    assert!(!output.contains("#[test]"), "{output}");
}
