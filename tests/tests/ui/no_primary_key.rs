// A model without `primary_key` and without an `id` field is rejected.
use strata::Model;

#[derive(Model)]
struct Event {
    name: String,
}

fn main() {}
