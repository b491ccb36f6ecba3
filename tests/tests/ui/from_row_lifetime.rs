// The row does not outlive the call: a `FromRow` struct cannot borrow.
use strata::FromRow;

#[derive(FromRow)]
struct Author<'a> {
    name: &'a str,
}

fn main() {}
