// A field type PostgreSQL cannot store is one error at the field, also when
// the model is used: not one per generated method or per call site.
use strata::prelude::*;

#[derive(Debug, Clone, PartialEq)]
struct Money {
    cents: i64,
}

#[derive(Model)]
struct Order {
    id: i64,
    total: Money,
}

async fn place(db: &Db) -> strata::Result<Order> {
    let order = Order::insert(db, NewOrder { id: 1, total: Money { cents: 100 } }).await?;
    let patch = OrderPatch { total: Some(Money { cents: 200 }) };
    Order::patch(db, order.id, patch).await
}

fn main() {
    let _ = place;
}
