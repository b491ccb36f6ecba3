// `#[from_row]` on the struct, a key given twice, a flag with a value and
// a rename without a name: each reported at its own span.
use strata::FromRow;

#[derive(FromRow)]
#[from_row(rename = "authors")]
struct Author {
    #[from_row(default, default)]
    id: i64,
    #[from_row(skip = true)]
    note: String,
    #[from_row(rename)]
    name: String,
}

fn main() {}
