// A field has one role: `skip` is not a column, and the derive-managed
// columns cannot be the key or each other.
use strata::Model;

#[derive(Model)]
struct Account {
    id: i64,
    #[model(skip, unique)]
    scratch: Vec<u8>,
    #[model(version, updated_at)]
    version: i64,
}

fn main() {}
