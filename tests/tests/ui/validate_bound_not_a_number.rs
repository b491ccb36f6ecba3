// `length` bounds are whole numbers; `range` bounds are number literals.
use strata::Model;

#[derive(Model)]
struct User {
    id: i64,
    #[validate(length(min = "1"))]
    name: String,
    #[validate(range(max = big))]
    age: i32,
    #[validate(length())]
    bio: String,
}

fn main() {}
