// A field type with no `FromSql` is reported at the type.
use strata::FromRow;

struct Money {
    _cents: i64,
}

#[derive(FromRow)]
struct Order {
    id: i64,
    total: Money,
}

fn main() {}
