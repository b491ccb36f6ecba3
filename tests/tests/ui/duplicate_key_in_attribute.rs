// A key given twice is an error, whether in one attribute or two.
use strata::Model;

#[derive(Model)]
#[model(table = "users", table = "people")]
struct User {
    #[model(unique, unique)]
    id: i64,
}

fn main() {}
