// The expansion names everything by absolute path: a crate that shadows the
// prelude and `core`/`std` still compiles, with no warning at all.
#![deny(warnings)]

#[allow(dead_code)]
struct Result;
#[allow(dead_code)]
struct Ok;
#[allow(dead_code)]
struct Err;
#[allow(dead_code)]
struct Option;
#[allow(dead_code)]
struct Some;
#[allow(dead_code)]
struct None;
#[allow(dead_code)]
struct Vec;
#[allow(dead_code)]
struct String;
#[allow(dead_code)]
struct Default;
#[allow(dead_code)]
struct Box;
#[allow(dead_code)]
struct Sync;
#[allow(dead_code)]
mod core {}
#[allow(dead_code)]
mod std {}
#[allow(dead_code)]
mod strata {}

// Private on purpose: generated items must not warn as dead code.
#[derive(::strata::Model)]
#[model(schema = "app", soft_delete)]
struct Item {
    id: i64,
    #[model(unique)]
    name: ::std::string::String,
    note: ::core::option::Option<::std::string::String>,
    #[model(version)]
    version: i32,
    #[model(updated_at)]
    updated_at: ::chrono::DateTime<::chrono::Utc>,
    #[model(deleted_at)]
    deleted_at: ::core::option::Option<::chrono::DateTime<::chrono::Utc>>,
    #[model(skip)]
    scratch: ::std::vec::Vec<u8>,
}

fn main() {}
