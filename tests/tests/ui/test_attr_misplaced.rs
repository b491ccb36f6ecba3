// `#[strata::test]` goes on a function, once.
use strata::Db;

#[strata::test]
#[test]
async fn also_a_plain_test(db: Db) {
    let _ = db;
}

#[strata::test]
struct NotAFunction;

fn main() {}
