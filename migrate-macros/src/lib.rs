//! `embed_migrations!`, re-exported as `strata::embed_migrations!`: reads a
//! migrations folder at compile time and expands to a
//! `&'static [strata::migrate::EmbeddedMigration]`.
//!
//! The folder is read relative to the invoking crate's `CARGO_MANIFEST_DIR`.
//! Each file is pulled in with `include_str!` on its absolute path, so cargo
//! rebuilds the crate when a migration file changes. Cargo does not watch the
//! folder itself: after adding a migration, touch the invoking file or add a
//! `build.rs` with `println!("cargo:rerun-if-changed=migrations")`.

use std::path::Path;

use proc_macro2::{Span, TokenStream};
use quote::quote;
use strata_migrations_fs::ScanError;
use syn::LitStr;

/// Embeds a migrations folder (`<version>_<name>/up.sql` + `down.sql`) into
/// the binary. See `strata::migrate` for the layout and the runner.
///
/// ```ignore
/// static MIGRATIONS: &[strata::migrate::EmbeddedMigration] = strata::embed_migrations!("migrations");
/// ```
#[proc_macro]
pub fn embed_migrations(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let dir = syn::parse_macro_input!(input as LitStr);
    expand(&dir)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn expand(lit: &LitStr) -> syn::Result<TokenStream> {
    let span = lit.span();
    let root = std::env::var("CARGO_MANIFEST_DIR").map_err(|_| {
        syn::Error::new(
            span,
            "`CARGO_MANIFEST_DIR` is not set; build with cargo to embed migrations",
        )
    })?;
    expand_dir(&Path::new(&root).join(lit.value()), span)
}

/// The slice for the folder `dir`, read by the same
/// [`strata_migrations_fs::scan`] as `Migrator::from_dir`.
fn expand_dir(dir: &Path, span: Span) -> syn::Result<TokenStream> {
    let found = strata_migrations_fs::scan(dir).map_err(|err| {
        let hint = match err {
            ScanError::ReadDir { .. } => "; the path is relative to the crate's Cargo.toml",
            _ => "",
        };
        syn::Error::new(span, format!("{err}{hint}"))
    })?;
    let items = found.iter().map(|m| {
        let version = m.version;
        let name = &m.name;
        let no_transaction = strata_migrations_fs::is_no_transaction(&m.up_sql);
        let up = path_lit(&m.up, span);
        let down = match &m.down {
            Some((p, _)) => {
                let p = path_lit(p, span);
                quote!(::core::option::Option::Some(::core::include_str!(#p)))
            }
            None => quote!(::core::option::Option::None),
        };
        quote! {
            ::strata::migrate::EmbeddedMigration {
                version: #version,
                name: #name,
                up: ::core::include_str!(#up),
                down: #down,
                no_transaction: #no_transaction,
            }
        }
    });
    Ok(quote! {
        {
            const MIGRATIONS: &[::strata::migrate::EmbeddedMigration] = &[#(#items),*];
            MIGRATIONS
        }
    })
}

/// An absolute path for `include_str!`, so it does not depend on the
/// invoking file's place.
fn path_lit(path: &Path, span: Span) -> LitStr {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    LitStr::new(&path.to_string_lossy(), span)
}

#[cfg(test)]
mod tests {
    use strata_migrations_fs::layouts::ALL;

    /// The macro accepts and rejects each layout as `Migrator::from_dir`
    /// does (`tests/tests/it/migrate.rs` holds the runtime to the same
    /// table).
    #[test]
    fn layouts() {
        for (i, layout) in ALL.iter().enumerate() {
            let dir = std::env::temp_dir()
                .join(format!("strata-embed-layout-{}-{i}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            layout.write(&dir).unwrap();
            let result = super::expand_dir(&dir, proc_macro2::Span::call_site());
            std::fs::remove_dir_all(&dir).unwrap();
            assert_eq!(
                result.is_ok(),
                layout.ok,
                "{}: {:?}",
                layout.name,
                result.err()
            );
        }
    }
}
