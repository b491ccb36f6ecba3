// A field key on the struct (or a struct key on a field) says where it goes.
use strata::Model;

#[derive(Model)]
#[model(primary_key)]
struct User {
    #[model(table = "users")]
    id: i64,
}

fn main() {}
