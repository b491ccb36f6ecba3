// `#[validate]` takes a list of rules; other forms are an error, not ignored.
use strata::Model;

#[derive(Model)]
struct User {
    id: i64,
    #[validate = "email"]
    email: String,
}

fn main() {}
