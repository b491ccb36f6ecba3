// A unit struct has no fields to read.
use strata::FromRow;

#[derive(FromRow)]
struct Nothing;

fn main() {}
