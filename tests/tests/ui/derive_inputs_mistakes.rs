// Mistakes in `derive_inputs`, each at its own span.
use strata::prelude::*;

#[derive(Model)]
#[model(derive_inputs)]
struct NoList {
    id: i64,
}

#[derive(Model)]
#[model(derive_inputs())]
struct EmptyList {
    id: i64,
}

#[derive(Model)]
#[model(derive_inputs(Debug, PartialEq, PartialEq))]
struct AlreadyAndTwice {
    id: i64,
}

#[derive(Model)]
#[model(derive_inputs("serde::Deserialize"))]
struct NotAPath {
    id: i64,
}

#[derive(Model)]
struct SkipWithoutBodies {
    id: i64,
    #[model(skip_deserializing)]
    owner_id: i64,
}

#[derive(Model)]
#[model(derive_inputs(serde::Deserialize))]
struct SkipOnGenerated {
    #[model(primary_key, generated, skip_deserializing)]
    id: i64,
}

fn main() {}
