// Every mistake is reported in one build, not one per build.
use strata::Model;

#[derive(Model)]
#[model(tabel = "users", soft_delete)]
struct User {
    #[model(primary_key)]
    id: i64,
    #[model(primary_key, colum = "mail")]
    email: String,
}

fn main() {}
