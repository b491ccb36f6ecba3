// Keys that contradict each other on one field, all reported in one build.
use strata::FromRow;

#[derive(FromRow, Default)]
struct Address {
    city: String,
}

#[derive(FromRow)]
struct Customer {
    id: i64,
    #[from_row(default, skip)]
    note: String,
    #[from_row(flatten, default)]
    home: Address,
    #[from_row(flatten, rename = "work_city")]
    work: Address,
    #[from_row(flatten, skip)]
    other: Address,
}

fn main() {}
