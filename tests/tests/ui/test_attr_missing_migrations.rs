// A migrations folder that is not there, reported at the folder's name in
// every build (not only by `cargo test`). Relative folders start at the
// crate's Cargo.toml; this one is absolute so the message is the same on
// every machine.
use strata::Db;

#[strata::test(migrations = "/nonexistent/strata/migrations")]
async fn migrated(db: Db) {
    let _ = db;
}

fn main() {}
