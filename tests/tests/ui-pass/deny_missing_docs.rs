//! Generated public items carry doc comments: a crate under
//! `#![deny(missing_docs)]` can derive `Model` on a public struct.
#![deny(missing_docs)]

/// A product.
#[derive(strata::Model, Debug, Clone)]
pub struct Product {
    /// The key.
    #[model(generated)]
    pub id: i64,
    /// What it is called.
    pub title: String,
    /// How many are left.
    #[model(version)]
    pub version: i64,
}

fn main() {}
