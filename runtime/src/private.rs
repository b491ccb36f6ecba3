//! Used by `#[derive(Model)]`; not public API.
//!
//! Generated code reaches the runtime only through `::strata::__private::..`,
//! so it never depends on what the user has in scope.

pub use crate::error::{Error, Result};
pub use crate::model::{
    Column, ColumnMeta, Model, ModelMeta, NewModel, ParamList, PatchModel, PatchTemplate,
    Statements,
};
pub use crate::model::{text_enum_accepts, text_enum_from_sql, text_enum_to_sql};
pub use crate::validate::{FieldError, ValidationError, ValidationErrors};
pub use bytes::BytesMut;
pub use core::default::Default;
pub use core::option::Option;
pub use core::result::Result as StdResult;
pub use tokio_postgres::Row;
pub use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

/// The error type of `ToSql`/`FromSql`.
pub type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// The `#[validate(..)]` rules, and what the derive needs to call them.
pub mod validate {
    pub use crate::validate::rules::*;
    pub use regex::Regex;
    pub use std::sync::LazyLock;

    /// Compiles a `pattern` the derive has already checked with
    /// `regex-syntax`; only a regex past the size limit can fail here.
    pub fn regex(pattern: &'static str) -> Regex {
        match Regex::new(pattern) {
            Ok(regex) => regex,
            Err(err) => panic!("#[validate(pattern)] regex `{pattern}` does not compile: {err}"),
        }
    }
}

/// Reads column `idx` of `row` as `T`, naming the column on failure.
#[inline]
pub fn decode<'a, T: FromSql<'a>>(row: &'a Row, idx: usize, column: &'static str) -> Result<T> {
    row.try_get(idx).map_err(|e| {
        let pg_type = row.columns().get(idx).map(|c| c.type_());
        Error::decode(column, std::any::type_name::<T>(), pg_type, e)
    })
}

/// The `true` flag of a present patch field.
pub const PRESENT: &bool = &true;
/// The `false` flag of an absent patch field.
pub const ABSENT: &bool = &false;

/// A patch field's flag: whether the field is present.
pub fn flag<T>(field: &Option<T>) -> &'static bool {
    if field.is_some() { PRESENT } else { ABSENT }
}

/// Every field of a model must be a type PostgreSQL can store.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a PostgreSQL column",
    label = "unsupported column type",
    note = "supported: integers, floats, bool, String, Vec<u8>, uuid::Uuid, chrono date/time types, serde_json::Value, strata::Json<T>, rust_decimal::Decimal, Vec<T> of those, and Option<T>; mark other fields `#[model(skip)]`"
)]
pub trait ColumnType {
    /// Whether a PostgreSQL column of type `ty` decodes into `Self`
    /// (`ColumnMeta::accepts`).
    fn accepts(ty: &Type) -> bool;
}
impl<T: ToSql + for<'a> FromSql<'a> + Send + Sync> ColumnType for T {
    fn accepts(ty: &Type) -> bool {
        <T as FromSql<'_>>::accepts(ty)
    }
}

/// `#[model(deleted_at)]` must be a nullable timestamp.
#[diagnostic::on_unimplemented(
    message = "`#[model(deleted_at)]` must be `Option<DateTime<Utc>>` or `Option<NaiveDateTime>`, not `{Self}`",
    label = "not a nullable timestamp"
)]
pub trait DeletedAtType {}
impl DeletedAtType for Option<chrono::DateTime<chrono::Utc>> {}
impl DeletedAtType for Option<chrono::NaiveDateTime> {}

/// `#[model(version)]` must be an integer.
#[diagnostic::on_unimplemented(
    message = "`#[model(version)]` must be an integer (`i16`, `i32` or `i64`), not `{Self}`",
    label = "not an integer"
)]
pub trait VersionType {}
impl VersionType for i16 {}
impl VersionType for i32 {}
impl VersionType for i64 {}

/// `#[model(updated_at)]` must be a timestamp.
#[diagnostic::on_unimplemented(
    message = "`#[model(updated_at)]` must be a timestamp (`DateTime<Utc>`, `NaiveDateTime`, or an `Option` of one), not `{Self}`",
    label = "not a timestamp"
)]
pub trait UpdatedAtType {}
impl UpdatedAtType for chrono::DateTime<chrono::Utc> {}
impl UpdatedAtType for chrono::NaiveDateTime {}
impl UpdatedAtType for Option<chrono::DateTime<chrono::Utc>> {}
impl UpdatedAtType for Option<chrono::NaiveDateTime> {}

/// `#[model(skip)]` fields are filled with `Default::default()` when read.
#[diagnostic::on_unimplemented(
    message = "`#[model(skip)]` field of type `{Self}` needs `Default`",
    label = "does not implement `Default`"
)]
pub trait SkipType {}
impl<T: Default> SkipType for T {}

/// Compile-time assertion helpers: `assert_version::<T>()` fails to
/// compile, at the span the derive gives it, when `T` lacks the trait.
/// (Every column's `ColumnType` is asserted by `ColumnMeta::accepts`.)
pub fn assert_deleted_at<T: DeletedAtType + ?Sized>() {}
/// See [`assert_deleted_at`].
pub fn assert_version<T: VersionType + ?Sized>() {}
/// See [`assert_deleted_at`].
pub fn assert_updated_at<T: UpdatedAtType + ?Sized>() {}
/// See [`assert_deleted_at`].
pub fn assert_skip<T: SkipType + ?Sized>() {}
