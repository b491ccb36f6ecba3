// `one_of` with no values lets nothing pass.
use strata::Model;

#[derive(Model)]
struct Post {
    id: i64,
    #[validate(one_of())]
    status: String,
}

fn main() {}
