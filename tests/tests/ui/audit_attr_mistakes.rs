// Mistakes in declaring what the audit log keeps, each at its own span.
use strata::prelude::*;

#[derive(Model)]
struct NotAudited {
    id: i64,
    #[model(audit(redact))]
    password_hash: String,
}

#[derive(Model)]
#[model(audit)]
struct KeyRedacted {
    #[model(audit(exclude))]
    id: i64,
}

#[derive(Model)]
#[model(audit)]
struct FieldMistakes {
    id: i64,
    #[model(audit)]
    bare: String,
    #[model(audit(hide))]
    unknown: String,
    #[model(audit(exclude, redact))]
    both: String,
    #[model(skip, audit(redact))]
    not_stored: String,
}

#[derive(Model)]
#[model(audit(exclude))]
struct StructWithOptions {
    id: i64,
}

fn main() {}
