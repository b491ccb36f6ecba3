// A skipped field is never read, so renaming its column means nothing:
// with `#[from_row(skip)]` and with a model's `#[model(skip)]`.
use strata::{FromRow, Model};

#[derive(FromRow)]
struct Author {
    id: i64,
    #[from_row(skip, rename = "cached_name")]
    name: String,
}

#[derive(Model, FromRow)]
struct Ticket {
    id: i64,
    #[model(skip)]
    #[from_row(rename = "seen_at")]
    seen: bool,
}

fn main() {}
