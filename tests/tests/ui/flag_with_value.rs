// Flags take no value: `soft_delete = true` shows the right format.
use strata::Model;

#[derive(Model)]
#[model(soft_delete = true)]
struct User {
    id: i64,
    #[model(deleted_at)]
    deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn main() {}
