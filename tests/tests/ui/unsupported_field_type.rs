// A field PostgreSQL cannot store is reported at the field's type.
use strata::Model;

#[derive(Debug, Clone)]
struct Money {
    cents: i64,
}

#[derive(Model)]
struct Order {
    id: i64,
    total: Money,
}

fn main() {}
