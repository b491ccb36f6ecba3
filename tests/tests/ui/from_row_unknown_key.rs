// A misspelt key is reported at the key, with the keys there are.
use strata::FromRow;

#[derive(FromRow)]
struct Author {
    id: i64,
    #[from_row(renam = "display_name")]
    name: String,
}

fn main() {}
