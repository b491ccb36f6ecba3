// A bulk update's value has the column's own type: `true` is no `i64`,
// even though `i64: From<bool>` would convert it to 1.
use strata::prelude::*;

#[derive(Model)]
struct Order {
    id: i64,
    customer_id: i64,
}

fn main() {
    let _ = Order::CUSTOMER_ID.set(true);
}
