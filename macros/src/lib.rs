//! `#[derive(Model)]` for strata. Use it through the `strata` crate.

use proc_macro::TokenStream;

/// Derives `strata::Model` (placeholder until the derive lands).
#[proc_macro_derive(Model, attributes(model, validate))]
pub fn derive_model(_input: TokenStream) -> TokenStream {
    TokenStream::new()
}
