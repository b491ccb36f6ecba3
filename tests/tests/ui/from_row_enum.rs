// An enum has no fields to read columns into.
use strata::FromRow;

#[derive(FromRow)]
enum Status {
    Open,
    Closed,
}

fn main() {}
