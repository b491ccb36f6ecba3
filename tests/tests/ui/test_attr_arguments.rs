// `#[strata::test]` functions take exactly one argument, the database.
use strata::Db;

#[strata::test]
async fn no_argument() {}

#[strata::test]
async fn two_arguments(db: Db, other: Db) {
    let _ = (db, other);
}

struct Suite;

impl Suite {
    #[strata::test]
    async fn method(&self) {}
}

#[strata::test]
async fn generic<T>(db: Db) {
    let _ = db;
}

fn main() {}
