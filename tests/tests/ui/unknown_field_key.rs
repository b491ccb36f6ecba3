// A misspelled field key is an error that lists the valid field keys.
use strata::Model;

#[derive(Model)]
struct User {
    #[model(primay_key)]
    id: i64,
}

fn main() {}
