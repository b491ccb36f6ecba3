// `include` takes only relations declared on the queried model: a
// relation of another model is a compile error at the argument.
use strata::prelude::*;

#[derive(Model, Clone)]
#[model(has_many(Scenario, key = deal_id))]
struct Deal {
    id: i64,
}

#[derive(Model, Clone)]
#[model(belongs_to(Deal, key = deal_id), has_many(Task, key = scenario_id))]
struct Scenario {
    id: i64,
    deal_id: i64,
}

#[derive(Model, Clone)]
struct Task {
    id: i64,
    scenario_id: i64,
}

fn main() {
    let _ = Deal::query().include(Scenario::TASKS);
}
