// The database comes as `strata::Db` or `strata::testing::TestDb`.
#[strata::test]
async fn takes_a_string(db: String) {
    let _ = db;
}

#[strata::test]
async fn takes_a_reference(db: &strata::Db) {
    let _ = db;
}

fn main() {}
