// `cache` needs `ttl_secs`, as a positive whole number.
use strata::Model;

#[derive(Model)]
#[model(cache)]
struct User {
    id: i64,
}

#[derive(Model)]
#[model(cache(ttl_secs = "300"))]
struct Post {
    id: i64,
}

#[derive(Model)]
#[model(cache(ttl = 300))]
struct Tag {
    id: i64,
}

fn main() {}
