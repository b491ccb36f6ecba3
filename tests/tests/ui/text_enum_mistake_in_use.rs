// A mistake in a `TextEnum` is its one error: the model column of the enum
// and a filter on it add none of their own.
use strata::prelude::*;

#[derive(strata::TextEnum, Debug, Clone, Copy, PartialEq)]
enum Status {
    Open,
    Closed(u32),
}

#[derive(Model)]
struct Ticket {
    id: i64,
    status: Status,
}

fn main() {
    let _ = Ticket::query().filter(Ticket::STATUS.eq(Status::Open));
    println!("{}", Status::Open);
}
