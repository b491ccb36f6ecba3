// `updated_at` must be a timestamp; the error points at the type.
use strata::Model;

#[derive(Model)]
struct Account {
    id: i64,
    #[model(updated_at)]
    updated_at: i64,
}

fn main() {}
