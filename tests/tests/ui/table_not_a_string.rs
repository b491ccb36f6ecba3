// `table = 5` says a string literal is expected and shows the right format.
use strata::Model;

#[derive(Model)]
#[model(table = 5)]
struct User {
    id: i64,
}

fn main() {}
