// A misspelled struct key is an error that lists the valid keys, not ignored.
use strata::Model;

#[derive(Model)]
#[model(tabel = "users")]
struct User {
    id: i64,
}

fn main() {}
