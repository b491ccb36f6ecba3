//! A unique violation named by the model field it concerns.
//!
//! PostgreSQL reports a unique violation by constraint and key columns;
//! a form wants the field. Only the model knows which of its columns are
//! `#[model(unique)]`, so the mapping lives here, not in `error` or
//! `validate` (which would then import the model, and close the circle
//! `error -> validate -> model -> error`).

use super::{ColumnMeta, Model, NewModel};
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

/// Finds the row of `rows` behind a batch's unique violation, from the key
/// values in PostgreSQL's detail (`Key (email)=(x) already exists.`).
///
/// Each row's key parameters are rendered as PostgreSQL prints them in that
/// detail (text exactly; numbers, UUIDs and booleans by their plain form)
/// and compared with the whole value list. With one match, that row failed;
/// with several, the batch repeats the key, and the second copy is the one
/// the server refused (the first went in, or met the same stored row: the
/// batch can only succeed without the repeat either way).
pub(crate) fn offending_row<M: Model>(err: Error, rows: &[M::New]) -> Error {
    let Error::UniqueViolation {
        constraint,
        table,
        columns,
        field,
        row: None,
        source,
    } = err
    else {
        return err;
    };
    let found = source
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(|e| e.as_db_error())
        .and_then(|db| db.detail())
        .and_then(crate::error::key_values)
        .and_then(|values| {
            let at: Option<Vec<usize>> = columns
                .iter()
                .map(|c| M::META.insert_columns.iter().position(|i| i == c))
                .collect();
            let at = at.filter(|at| !at.is_empty())?;
            let mut matches = rows.iter().enumerate().filter(|(_, row)| {
                let params = row.insert_params();
                let shown: Option<Vec<String>> = at
                    .iter()
                    .map(|&i| params.get(i).and_then(|p| key_text(*p)))
                    .collect();
                shown.is_some_and(|shown| shown.join(", ") == values)
            });
            let first = matches.next().map(|(i, _)| i);
            matches.next().map(|(i, _)| i).or(first)
        });
    Error::UniqueViolation {
        constraint,
        table,
        columns,
        field,
        row: found,
        source,
    }
}

/// A key parameter as PostgreSQL's key detail prints it; `None` for NULL
/// (which never conflicts) or a value whose text form is not known here.
fn key_text(param: &(dyn tokio_postgres::types::ToSql + Sync)) -> Option<String> {
    use tokio_postgres::types::{IsNull, Type};
    // Text's binary form is its UTF-8: exact, whatever the quoting.
    let mut buf = bytes::BytesMut::new();
    match param.to_sql_checked(&Type::TEXT, &mut buf) {
        Ok(IsNull::No) => return String::from_utf8(buf.to_vec()).ok(),
        Ok(IsNull::Yes) => return None,
        Err(_) => {}
    }
    let shown = format!("{param:?}");
    let shown = match shown
        .strip_prefix("Some(")
        .and_then(|s| s.strip_suffix(')'))
    {
        Some(inner) => inner.to_owned(),
        None if shown == "None" => return None,
        None => shown,
    };
    Some(match shown.as_str() {
        "true" => "t".to_owned(),
        "false" => "f".to_owned(),
        _ => shown,
    })
}
