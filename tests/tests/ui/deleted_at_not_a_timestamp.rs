// `deleted_at` must be a nullable timestamp; the error points at the type.
use strata::Model;

#[derive(Model)]
#[model(soft_delete)]
struct User {
    id: i64,
    #[model(deleted_at)]
    deleted_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
