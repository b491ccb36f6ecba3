// A unit struct has no columns.
use strata::Model;

#[derive(Model)]
struct Marker;

fn main() {}
