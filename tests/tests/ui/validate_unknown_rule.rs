// An unknown `#[validate]` rule is an error that lists the valid ones.
use strata::Model;

#[derive(Model)]
struct User {
    id: i64,
    #[validate(emial)]
    email: String,
}

fn main() {}
