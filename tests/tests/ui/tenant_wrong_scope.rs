// A handle scoped to another key type, or the all-tenants escape hatch,
// does not run a tenant model's by-key operations.
use strata::prelude::*;

#[derive(Model, Debug, Clone)]
#[model(tenant = dealership_id)]
struct Deal {
    #[model(primary_key, generated)]
    id: i64,
    dealership_id: i64,
    title: String,
}

async fn wrong_type(db: &Db) -> strata::Result<Deal> {
    Deal::get(&db.tenant("acme".to_owned()), 1).await
}

async fn insert_everywhere(db: &Db) -> strata::Result<Deal> {
    Deal::insert(&db.all_tenants(), NewDeal { title: "x".into() }).await
}

fn main() {
    let _ = (wrong_type, insert_everywhere);
}
