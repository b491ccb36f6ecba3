// `range` checks numbers; on a `String` it fails at the field's type.
use strata::Model;

#[derive(Model)]
struct User {
    id: i64,
    #[validate(range(min = 1, max = 100))]
    name: String,
}

fn main() {}
