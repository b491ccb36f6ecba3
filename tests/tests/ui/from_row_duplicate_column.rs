// Two fields reading one column: reported at the second. On a struct that
// also derives `Model`, a clash of `#[model(column)]` names is reported
// once, by `Model`; a `rename` onto a model column is `FromRow`'s.
use strata::{FromRow, Model};

#[derive(FromRow)]
struct Author {
    name: String,
    #[from_row(rename = "name")]
    display_name: String,
}

#[derive(Model, FromRow)]
struct Ticket {
    id: i64,
    #[model(column = "title")]
    heading: String,
    title: String,
}

#[derive(Model, FromRow)]
struct Post {
    id: i64,
    #[model(column = "body_text")]
    body: String,
    #[from_row(rename = "body_text")]
    #[model(column = "summary")]
    summary: String,
}

fn main() {}
