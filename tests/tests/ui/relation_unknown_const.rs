// A relation the model does not declare has no const to include.
use strata::prelude::*;

#[derive(Model, Clone)]
struct Deal {
    id: i64,
    customer_id: i64,
}

fn main() {
    let _ = Deal::query().include(Deal::CUSTOMER);
}
