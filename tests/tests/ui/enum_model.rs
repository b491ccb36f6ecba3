// An enum is not a table row.
use strata::Model;

#[derive(Model)]
enum Status {
    Active,
    Closed,
}

fn main() {}
