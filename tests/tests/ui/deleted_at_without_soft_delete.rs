// A `deleted_at` column without `soft_delete` would silently do nothing.
use strata::Model;

#[derive(Model)]
struct User {
    id: i64,
    #[model(deleted_at)]
    deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn main() {}
