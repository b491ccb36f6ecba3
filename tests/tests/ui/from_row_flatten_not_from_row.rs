// `flatten` needs a type that is itself `FromRow`.
use strata::FromRow;

struct Address {
    _city: String,
}

#[derive(FromRow)]
struct Customer {
    id: i64,
    #[from_row(flatten)]
    address: Address,
}

fn main() {}
