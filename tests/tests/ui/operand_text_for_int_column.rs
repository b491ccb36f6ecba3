// `&str` is an operand of text columns only.
use strata::prelude::*;

#[derive(Model)]
struct Order {
    id: i64,
    note: String,
}

fn main() {
    let _ = Order::query().filter(Order::ID.eq("7"));
    let _ = Order::query().filter(Order::NOTE.eq(7));
}
