//! [`FromRow`]: a struct decoded from the rows of any statement, by column
//! name. `#[derive(FromRow)]` implements it; [`Executor::query_as`] and its
//! siblings call it on the rows the statement pipeline returned (it is the
//! last step of the raw-SQL path, after `effects`, and adds no stage: the
//! statement ran, was retried, timed and counted as `query` does).
//!
//! A model decodes its own `SELECT` by position: its select list is fixed
//! at compile time. Raw SQL has whatever columns its author wrote, in any
//! order, so a `FromRow` type finds each field's column by name, once per
//! result set ([`FromRow::resolve`] on its first row, O(fields × columns)),
//! then decodes every row by position ([`FromRow::decode`]).
//!
//! [`Executor::query_as`]: crate::Executor::query_as

use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::error::{Error, Result};

/// A type decoded from a row by column name. Derive it with
/// `#[derive(FromRow)]` (see the README's "Typed raw SQL"), or implement
/// it by hand.
///
/// Columns the type does not read are ignored. When a statement returns
/// two columns of one name, the first is read.
///
/// # Errors
///
/// [`Error::Decode`] naming the column: a column the type needs and the
/// statement did not return (the source is a [`MissingColumn`] listing the
/// columns it did return), a value of another type (the message names the
/// PostgreSQL and the Rust type), or NULL where the Rust type is not an
/// `Option`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `FromRow`",
    label = "not decodable from a row by column name",
    note = "derive it: `#[derive(FromRow)]` on a struct with named fields"
)]
pub trait FromRow: Sized {
    /// Where each field's column is in the rows of one statement: what
    /// [`FromRow::resolve`] found, computed once and reused for every row.
    type Columns;

    /// Finds every column the type reads among the columns of `row`'s
    /// statement (any of its rows: they all have the same columns).
    ///
    /// Returns `Error::Decode` with a [`MissingColumn`] source for the first
    /// column the type needs that is not there.
    fn resolve(row: &Row) -> Result<Self::Columns>;

    /// Decodes one row of the statement `columns` was resolved for.
    fn decode(row: &Row, columns: &Self::Columns) -> Result<Self>;

    /// Decodes every row of one statement, resolving the columns once.
    fn from_rows(rows: &[Row]) -> Result<Vec<Self>> {
        let Some(first) = rows.first() else {
            return Ok(Vec::new());
        };
        let columns = Self::resolve(first)?;
        rows.iter().map(|row| Self::decode(row, &columns)).collect()
    }

    /// Decodes a single row (resolving its columns for it alone).
    fn decode_row(row: &Row) -> Result<Self> {
        Self::decode(row, &Self::resolve(row)?)
    }
}

/// Why [`Error::Decode`] was returned for a column a [`FromRow`] type needs:
/// the statement returned no column of that name. Lists the columns it did
/// return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingColumn {
    returned: Vec<String>,
}

impl MissingColumn {
    /// The names of the columns the statement returned, in order.
    pub fn returned(&self) -> &[String] {
        &self.returned
    }
}

impl std::fmt::Display for MissingColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the statement returned no column of that name; ")?;
        if self.returned.is_empty() {
            f.write_str("it returned no columns")?;
        } else {
            f.write_str("its columns are ")?;
            for (i, name) in self.returned.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(name)?;
            }
        }
        f.write_str(" (select it, or mark the field `#[from_row(default)]`)")
    }
}

impl std::error::Error for MissingColumn {}

/// The position of column `name` in `row`: the first of that name.
/// Returns `Error::Decode` with a [`MissingColumn`] source when there is
/// none. (The derive's; reached through `__private`.)
pub fn column_index(row: &Row, name: &str) -> Result<usize> {
    column_index_opt(row, name).ok_or_else(|| Error::Decode {
        column: name.to_owned(),
        source: Box::new(MissingColumn {
            returned: row.columns().iter().map(|c| c.name().to_owned()).collect(),
        }),
    })
}

/// The position of column `name` in `row`, if the statement returned it:
/// for a field that has a default when the column is absent.
pub fn column_index_opt(row: &Row, name: &str) -> Option<usize> {
    row.columns().iter().position(|c| c.name() == name)
}

/// A field type `#[derive(FromRow)]` can read from a column: any type with
/// `FromSql` for every lifetime (the row is not borrowed). The derive reads
/// each field through this trait, at the field's type, so a type that does
/// not fit is one error there, with this message.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read from a PostgreSQL column",
    label = "not a column type",
    note = "a `FromRow` field is a type with `FromSql` (integers, floats, bool, String, Vec<u8>, uuid::Uuid, chrono types, serde_json::Value, strata::Json<T>, a `TextEnum`, a Vec<T> of those, Option<T>); a nested `FromRow` struct takes `#[from_row(flatten)]`, a field that is not read `#[from_row(skip)]`"
)]
pub trait RowValue: Sized {
    /// Reads column `idx` of `row`, naming `column` on failure.
    fn read(row: &Row, idx: usize, column: &'static str) -> Result<Self>;
}

#[diagnostic::do_not_recommend]
impl<T: for<'a> FromSql<'a>> RowValue for T {
    #[inline]
    fn read(row: &Row, idx: usize, column: &'static str) -> Result<Self> {
        row.try_get(idx).map_err(|e| {
            let pg_type = row.columns().get(idx).map(tokio_postgres::Column::type_);
            Error::decode(column, std::any::type_name::<T>(), pg_type, e)
        })
    }
}
