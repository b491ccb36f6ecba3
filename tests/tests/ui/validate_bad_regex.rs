// An invalid `pattern` is reported at the literal, not at the first write.
use strata::Model;

#[derive(Model)]
struct User {
    id: i64,
    #[validate(pattern = "^[a-z+$")]
    handle: String,
}

fn main() {}
