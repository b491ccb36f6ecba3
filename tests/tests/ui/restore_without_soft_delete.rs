// `restore` exists only for models with `soft_delete`; on any other model it
// is a compile error, not an `Error::Config` at run time.
use strata::prelude::*;

#[derive(Model)]
struct Note {
    id: i64,
    body: String,
}

async fn undo(db: &Db) -> strata::Result<Note> {
    Note::restore(db, 1).await
}

fn main() {
    let _ = undo;
}
