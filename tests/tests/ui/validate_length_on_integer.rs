// `length` counts characters or elements; on an `i32` it fails at the field's type.
use strata::Model;

#[derive(Model)]
struct User {
    id: i64,
    #[validate(length(max = 3))]
    age: i32,
}

fn main() {}
