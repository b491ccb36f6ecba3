// Operands are not widened: an `i32` variable on an `i64` column is a
// mistake to fix at the call site, as in `i64::from(n)`.
use strata::prelude::*;

#[derive(Model)]
struct Order {
    id: i64,
    quantity: Option<i64>,
}

fn main() {
    let n: i32 = 3;
    let _ = Order::query().filter(Order::QUANTITY.gt(n));
    let _ = Order::query().filter(Order::ID.is_in([n]));
}
