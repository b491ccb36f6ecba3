// A `belongs_to` key must be a column field of the model, reported at the
// key; so must its type hold the target's key, reported at the field.
use strata::prelude::*;

#[derive(Model, Clone)]
struct Customer {
    id: i64,
}

#[derive(Model, Clone)]
#[model(belongs_to(Customer, key = custmer_id))]
struct Deal {
    id: i64,
    customer_id: i64,
}

#[derive(Model, Clone)]
#[model(belongs_to(Customer, key = customer_id))]
struct Quote {
    id: i64,
    customer_id: String,
}

fn main() {}
