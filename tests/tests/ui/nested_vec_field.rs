// PostgreSQL arrays cannot be bound or read as a nested `Vec`, so a
// `Vec<Vec<i32>>` field would fail every insert at run time; it is a compile
// error at the field instead.
use strata::Model;

#[derive(Model)]
struct Grid {
    id: i64,
    cells: Vec<Vec<i32>>,
    // A list of `bytea` values is not a nested array, so this one is fine.
    blobs: Vec<Vec<u8>>,
}

fn main() {}
