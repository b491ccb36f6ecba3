// `email` checks strings; on an `Option<i64>` it fails at the inner type.
use strata::Model;

#[derive(Model)]
struct User {
    id: i64,
    #[validate(email)]
    contact: Option<i64>,
}

fn main() {}
