// A tenant model's operations need a tenant-scoped handle: `Deal::get(&db, ..)`
// on the unscoped `Db` is a compile error that says how to scope it.
use strata::prelude::*;

#[derive(Model, Debug, Clone)]
#[model(tenant = dealership_id)]
struct Deal {
    #[model(primary_key, generated)]
    id: i64,
    dealership_id: i64,
    title: String,
}

async fn leak(db: &Db) -> strata::Result<Deal> {
    Deal::get(db, 1).await
}

async fn list(db: &Db) -> strata::Result<Vec<Deal>> {
    Deal::query().all(db).await
}

fn main() {
    let _ = (leak, list);
}
