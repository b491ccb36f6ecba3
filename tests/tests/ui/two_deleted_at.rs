// A model has one soft-delete column.
use strata::Model;

#[derive(Model)]
#[model(soft_delete)]
struct User {
    id: i64,
    #[model(deleted_at)]
    deleted_at: Option<chrono::DateTime<chrono::Utc>>,
    #[model(deleted_at)]
    removed_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn main() {}
