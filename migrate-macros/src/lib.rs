//! `embed_migrations!`, re-exported as `strata::embed_migrations!`: reads a
//! migrations folder at compile time and expands to a
//! `&'static [strata::migrate::EmbeddedMigration]`.
//!
//! The folder is read relative to the invoking crate's `CARGO_MANIFEST_DIR`.
//! Each file is pulled in with `include_str!` on its absolute path, so cargo
//! rebuilds the crate when a migration file changes. Cargo does not watch the
//! folder itself: after adding a migration, touch the invoking file or add a
//! `build.rs` with `println!("cargo:rerun-if-changed=migrations")`.

use std::path::{Path, PathBuf};

use proc_macro2::{Span, TokenStream};
use quote::quote;
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

struct Found {
    version: i64,
    name: String,
    up: PathBuf,
    down: Option<PathBuf>,
    no_transaction: bool,
}

fn expand(lit: &LitStr) -> syn::Result<TokenStream> {
    let span = lit.span();
    let root = std::env::var("CARGO_MANIFEST_DIR").map_err(|_| {
        syn::Error::new(
            span,
            "`CARGO_MANIFEST_DIR` is not set; build with cargo to embed migrations",
        )
    })?;
    let dir = Path::new(&root).join(lit.value());
    let found = scan(&dir, span)?;
    let items = found.iter().map(|m| {
        let Found {
            version,
            name,
            no_transaction,
            ..
        } = m;
        let up = path_lit(&m.up, span);
        let down = match &m.down {
            Some(p) => {
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

fn path_lit(path: &Path, span: Span) -> LitStr {
    LitStr::new(&path.to_string_lossy(), span)
}

fn scan(dir: &Path, span: Span) -> syn::Result<Vec<Found>> {
    let err = |msg: String| syn::Error::new(span, msg);
    let entries = std::fs::read_dir(dir).map_err(|e| {
        err(format!(
            "cannot read the migrations folder `{}`: {e}; the path is relative to the crate's Cargo.toml",
            dir.display()
        ))
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| err(format!("cannot list `{}`: {e}", dir.display())))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        let Some((version, name)) = dir_name.split_once('_') else {
            return Err(err(format!(
                "migration folder `{dir_name}` is not named `<version>_<name>`, e.g. `20240101120000_create_users`"
            )));
        };
        let version: i64 = version
            .parse()
            .ok()
            .filter(|_| version.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                err(format!(
                    "migration folder `{dir_name}` does not start with a numeric version, e.g. `20240101120000_create_users`"
                ))
            })?;
        let up = path.join("up.sql");
        let text = std::fs::read_to_string(&up)
            .map_err(|e| err(format!("cannot read `{}`: {e}", up.display())))?;
        let no_transaction = text
            .lines()
            .next()
            .is_some_and(|l| l.trim() == "-- strata:no-transaction");
        let down = path.join("down.sql");
        found.push(Found {
            version,
            name: name.to_owned(),
            up: absolute(up),
            down: down.is_file().then(|| absolute(down)),
            no_transaction,
        });
    }
    found.sort_by_key(|m| m.version);
    if let Some(w) = found.windows(2).find(|w| w[0].version == w[1].version) {
        return Err(err(format!(
            "two migrations share version {}: `{}` and `{}`",
            w[0].version, w[0].name, w[1].name
        )));
    }
    Ok(found)
}

fn absolute(path: PathBuf) -> PathBuf {
    std::fs::canonicalize(&path).unwrap_or(path)
}
