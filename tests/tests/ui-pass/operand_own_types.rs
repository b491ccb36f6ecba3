//! Filter operands of the column's own type compile: literals infer it,
//! text columns also take `&str` and `&String`, `Option` columns their
//! inner type, and text search methods any `AsRef<str>`.
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
    let owned = String::from("gift");
    let _ = Order::query()
        .filter(Order::ID.eq(7))
        .filter(Order::ID.is_in([1, 2, 3]))
        .filter(Order::QUANTITY.between(1, 10))
        .filter(Order::NOTE.eq("gift"))
        .filter(Order::NOTE.ne(&owned))
        .filter(Order::NOTE.eq(owned.clone()))
        .filter(Order::NOTE.is_in(["a", "b"]))
        .filter(Order::COUPON.eq("SPRING"))
        .filter(Order::COUPON.contains(&owned))
        .filter(Order::NOTE.istarts_with("gi"))
        .filter(Order::SHIPPED_AT.lt(chrono::Utc::now()));
}
