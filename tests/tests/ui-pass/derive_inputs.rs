// `derive_inputs` adds traits to `NewX` and `XPatch`: here serde's and
// `PartialEq`, so both round-trip through JSON and compare.
use strata::prelude::*;

#[derive(Model, Debug, Clone)]
#[model(derive_inputs(serde::Serialize, serde::Deserialize, PartialEq))]
struct Profile {
    #[model(primary_key, generated)]
    id: i64,
    name: String,
    bio: Option<String>,
}

fn takes<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + Clone + std::fmt::Debug>() {}

fn main() {
    takes::<NewProfile>();
    takes::<ProfilePatch>();
}
