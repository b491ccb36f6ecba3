// `#[strata::test]` on a function that is not `async`.
use strata::Db;

#[strata::test]
fn not_async(db: Db) {
    let _ = db;
}

fn main() {}
