// A tuple struct's fields have no names to find columns by.
use strata::FromRow;

#[derive(FromRow)]
struct Pair(i64, String);

fn main() {}
