// Mistakes in declaring the tenant, each reported at its own span.
use strata::prelude::*;

#[derive(Model)]
#[model(tenant = dealer)]
struct Unknown {
    id: i64,
    dealership_id: i64,
}

#[derive(Model)]
#[model(rls)]
struct RlsWithoutTenant {
    id: i64,
}

#[derive(Model)]
#[model(tenant = dealership_id)]
struct Nullable {
    id: i64,
    dealership_id: Option<i64>,
}

#[derive(Model)]
#[model(tenant = id)]
struct KeyIsTenant {
    id: i64,
}

#[derive(Model)]
#[model(tenant = dealership_id)]
struct BadType {
    id: i64,
    dealership_id: f64,
}

fn main() {}
