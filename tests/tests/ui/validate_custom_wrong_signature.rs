// A `custom` function must take the field's value by reference and return
// `Result<(), ValidationError>`; a mismatch is reported at the path.
use strata::Model;

fn check(name: String) -> bool {
    !name.is_empty()
}

#[derive(Model)]
struct User {
    id: i64,
    #[validate(custom = check)]
    name: String,
}

fn main() {}
