// A tuple struct has no field names to map to columns.
use strata::Model;

#[derive(Model)]
struct User(i64, String);

fn main() {}
