// `min > max` lets no value pass, so it is a compile error.
use strata::Model;

#[derive(Model)]
struct User {
    id: i64,
    #[validate(length(min = 10, max = 5))]
    name: String,
    #[validate(range(min = 1.5, max = -1))]
    score: f64,
}

fn main() {}
