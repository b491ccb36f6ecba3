// Rules go on fields; a cross-field rule is `#[model(validate_with = ..)]`.
use strata::Model;

#[derive(Model)]
#[validate(email)]
struct User {
    id: i64,
    email: String,
}

fn main() {}
