// `version` must be an integer; the error points at the type.
use strata::Model;

#[derive(Model)]
struct Account {
    id: i64,
    #[model(version)]
    version: String,
}

fn main() {}
