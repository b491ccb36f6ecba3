// `NewDeal` and `DealPatch` have no tenant field: no write can name another
// tenant, so a row never moves.
use strata::prelude::*;

#[derive(Model, Debug, Clone)]
#[model(tenant = dealership_id)]
struct Deal {
    #[model(primary_key, generated)]
    id: i64,
    dealership_id: i64,
    title: String,
}

fn main() {
    let _ = NewDeal {
        title: "x".into(),
        dealership_id: 2,
    };
    let _ = DealPatch {
        dealership_id: Some(2),
        ..Default::default()
    };
}
