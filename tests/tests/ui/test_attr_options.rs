// Unknown, duplicate and malformed options, each at its own span.
use strata::Db;

#[strata::test(migration = "migrations")]
async fn misspelt(db: Db) {
    let _ = db;
}

#[strata::test(migrations = 5, redis = true)]
async fn wrong_values(db: Db) {
    let _ = db;
}

#[strata::test(redis, redis, migrations)]
async fn duplicate_and_bare(db: Db) {
    let _ = db;
}

#[strata::test("migrations")]
async fn not_an_option(db: Db) {
    let _ = db;
}

fn main() {}
