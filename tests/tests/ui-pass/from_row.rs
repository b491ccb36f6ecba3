//! `#[derive(FromRow)]` names everything by absolute path and adds no public
//! item: a crate that shadows the prelude, `core` and `std`, under
//! `#![deny(warnings, missing_docs)]`, derives it on public, private,
//! generic, nested and model structs, and `query_as` accepts them.
#![deny(warnings, missing_docs)]

#[allow(dead_code)]
struct Result;
#[allow(dead_code)]
struct Ok;
#[allow(dead_code)]
struct Option;
#[allow(dead_code)]
struct Some;
#[allow(dead_code)]
struct None;
#[allow(dead_code)]
struct Default;
#[allow(dead_code)]
mod core {}
#[allow(dead_code)]
mod std {}
#[allow(dead_code)]
mod strata {}

/// A postal address, read from the same row as its customer.
#[derive(::strata::FromRow, ::core::default::Default)]
pub struct Address {
    /// The city.
    pub city: ::std::string::String,
    /// The postal code, selected as `zip_code`.
    #[from_row(rename = "zip_code")]
    pub zip: ::std::string::String,
}

/// Every key at once.
#[derive(::strata::FromRow)]
pub struct Customer {
    /// The key.
    pub id: i64,
    /// May be NULL.
    pub note: ::core::option::Option<::std::string::String>,
    /// Zero when the statement does not select it.
    #[from_row(default)]
    pub orders: i64,
    /// Never read.
    #[from_row(skip)]
    pub scratch: ::std::vec::Vec<u8>,
    /// Nested.
    #[from_row(flatten)]
    pub address: Address,
}

/// Generic over a column and over a nested struct.
#[derive(::strata::FromRow)]
pub struct Tagged<T, N> {
    /// A column of any readable type.
    pub value: T,
    /// A nested `FromRow` struct.
    #[from_row(flatten)]
    pub nested: N,
    /// Missing means the default.
    #[from_row(default)]
    pub count: ::core::option::Option<T>,
}

// Private: no dead-code warning from generated items.
#[derive(::strata::Model, ::strata::FromRow)]
#[model(table = "tickets")]
struct Ticket {
    id: i64,
    #[model(column = "ticket_title")]
    title: ::std::string::String,
    #[model(skip)]
    seen: bool,
}

#[allow(dead_code)]
async fn reads(db: &::strata::Db) -> ::strata::Result<()> {
    use ::strata::Executor as _;
    let _: ::std::vec::Vec<Customer> = db.query_as("SELECT 1", &[]).await?;
    let _: Tagged<i32, Address> = db.query_read_as_one("SELECT 1", &[]).await?;
    let t: ::core::option::Option<Ticket> = db.query_as_opt("SELECT 1", &[]).await?;
    if let ::core::option::Option::Some(t) = t {
        let _ = (t.id, t.title, t.seen);
    }
    ::core::result::Result::Ok(())
}

fn main() {}
