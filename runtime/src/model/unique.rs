//! A unique violation named by the model field it concerns.
//!
//! PostgreSQL reports a unique violation by constraint and key columns;
//! a form wants the field. Only the model knows which of its columns are
//! `#[model(unique)]`, so the mapping lives here, not in `error` or
//! `validate` (which would then import the model, and close the circle
//! `error -> validate -> model -> error`).

use super::{ColumnMeta, Model};
use crate::error::Error;

/// Names the model field of a unique violation on one of `M`'s unique (or
/// primary key) columns, so [`Error::field_errors`] reports it like a rule.
/// The column comes from PostgreSQL's detail (`Key (email)=(..)`), else
/// from the constraint's default name (`users_email_key`, `users_pkey`);
/// every other error passes through unchanged. Called by the model
/// operations on their write errors.
pub(crate) fn unique_field<M: Model>(err: Error) -> Error {
    let Error::UniqueViolation {
        constraint,
        table,
        columns,
        field: None,
        row,
        source,
    } = err
    else {
        return err;
    };
    let meta = M::META;
    let ours = table.as_deref().is_none_or(|t| t == meta.table);
    let default_name = |c: &ColumnMeta| {
        if c.primary_key {
            format!("{}_pkey", meta.table)
        } else {
            format!("{}_{}_key", meta.table, c.name)
        }
    };
    let field = meta
        .columns
        .iter()
        .filter(|c| ours && (c.unique || c.primary_key))
        .find(|c| match columns.as_slice() {
            [] => constraint.as_deref() == Some(default_name(c).as_str()),
            [only] => only == c.name,
            _ => false,
        })
        .map(|c| c.field);
    Error::UniqueViolation {
        constraint,
        table,
        columns,
        field,
        row,
        source,
    }
}
