// A model maps to one table with fixed types: no generics or lifetimes.
use strata::Model;

#[derive(Model)]
struct Row<'a, T> {
    id: i64,
    name: &'a str,
    value: T,
}

fn main() {}
