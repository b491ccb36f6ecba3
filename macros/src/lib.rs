//! `#[derive(Model)]` for strata. Use it through the `strata` crate.
