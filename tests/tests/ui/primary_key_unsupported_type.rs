// A primary key of a type PostgreSQL cannot store is one error at the
// field's type, not a second one for the key's bounds.
use strata::Model;

#[derive(Debug, Clone)]
struct AccountNumber(String);

#[derive(Model)]
struct Account {
    id: AccountNumber,
    name: String,
}

fn main() {}
