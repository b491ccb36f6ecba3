// A primary key of a type PostgreSQL cannot store is reported at the
// field's type. Known gap: `Model::Key`'s own bounds (`ToSql + Sync + ..`,
// in the runtime's `Model` trait) add a second error at the same span,
// until that bound is written as `ColumnType`.
use strata::Model;

#[derive(Debug, Clone)]
struct AccountNumber(String);

#[derive(Model)]
struct Account {
    id: AccountNumber,
    name: String,
}

fn main() {}
