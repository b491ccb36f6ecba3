// `soft_delete` needs a column to set.
use strata::Model;

#[derive(Model)]
#[model(soft_delete)]
struct User {
    id: i64,
    deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn main() {}
