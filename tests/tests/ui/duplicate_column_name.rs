// Two fields cannot map to one column.
use strata::Model;

#[derive(Model)]
struct User {
    id: i64,
    email: String,
    #[model(column = "email")]
    contact: String,
}

fn main() {}
