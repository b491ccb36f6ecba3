//! Bulk-update values of the column's own type compile: literals infer it,
//! text columns also take `&str`, `Option` columns a bare value or `None`.
use strata::prelude::*;

#[derive(Model)]
struct Order {
    id: i64,
    quantity: i32,
    note: String,
    coupon: Option<String>,
    shipped_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn main() {
    let _ = [
        Order::QUANTITY.set(3),
        Order::NOTE.set("gift"),
        Order::NOTE.set(String::from("gift")),
        Order::COUPON.set("SPRING"),
        Order::COUPON.set(None),
        Order::COUPON.set(Some(String::from("x"))),
        Order::SHIPPED_AT.set(chrono::Utc::now()),
        Order::SHIPPED_AT.set(None),
    ];
}
