// A primary key of a type PostgreSQL cannot store is one error, at the
// field's type: `Model::Key` is bound by `ColumnType`, and the derive's
// other uses of the key go through `KeyColumn<Model>`, which adds none.
use strata::Model;

#[derive(Debug, Clone)]
struct AccountNumber(String);

#[derive(Model)]
struct Account {
    id: AccountNumber,
    name: String,
}

fn main() {}
