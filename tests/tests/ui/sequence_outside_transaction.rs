// A sequence number taken on a pooled handle would commit before the row it
// numbers: `next` compiles only on a transaction handle.
use strata::prelude::*;
use strata::sequence::Sequence;

const DEAL_NUMBERS: Sequence = Sequence::new("deal_number");

async fn on_db(db: Db) -> strata::Result<i64> {
    DEAL_NUMBERS.next(&db).await
}

async fn on_tenant_db(db: Db) -> strata::Result<i64> {
    DEAL_NUMBERS.next(&db.tenant(7_i64)).await
}

fn main() {}
