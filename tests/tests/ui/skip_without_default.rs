// A `skip` field is filled with `Default::default()`, so it needs `Default`.
use strata::Model;

struct Handle;

#[derive(Model)]
struct User {
    id: i64,
    #[model(skip)]
    handle: Handle,
}

fn main() {}
