// A relation names its key field; two relations cannot share a const name.
use strata::prelude::*;

#[derive(Model, Clone)]
struct Customer {
    id: i64,
    deal_id: i64,
}

#[derive(Model, Clone)]
#[model(
    belongs_to(Customer),
    has_many(Customer, key = deal_id),
    has_many(Customer, key = deal_id)
)]
struct Deal {
    id: i64,
}

fn main() {}
