// Composite keys are not supported: a second `primary_key` is an error.
use strata::Model;

#[derive(Model)]
struct Membership {
    #[model(primary_key)]
    user_id: i64,
    #[model(primary_key)]
    group_id: i64,
}

fn main() {}
