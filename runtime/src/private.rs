//! Used by `#[derive(Model)]`; not public API.
//!
//! Generated code reaches the runtime only through `::strata::__private::..`,
//! so it never depends on what the user has in scope.

pub use crate::error::{Error, Result};
pub use crate::model::AuditMeta;
pub use crate::model::{
    Column, ColumnMeta, Model, ModelMeta, NewModel, ParamList, PatchModel, PatchTemplate,
    SoftDelete, Statements,
};
pub use crate::model::{text_enum_accepts, text_enum_from_sql, text_enum_to_sql};
pub use crate::row::{RowValue, column_index, column_index_opt};
/// What a relation const is built from (`#[model(belongs_to(..))]`, `has_many`).
pub mod relation {
    pub use crate::model::relation::{
        BelongsTo, CachedList, CachedLoad, HasMany, HoldsKey, Pick, ViaCache, ViaQuery,
        assert_relation_key, key_of,
    };
}
/// What `#[strata::test]` expands to.
#[cfg(feature = "testing")]
pub mod testing {
    pub use crate::testing::run::{Setup, TestArg, check_arg, run};
}
pub use crate::tenant::{EveryTenant, ListsOn, RunsOn, Scoped, TenantKey, TenantMeta};

/// A scope no handle has: the derive's second `RunsOn` candidate for a
/// tenant model, so that a call on the wrong handle is reported as the
/// missing scope rather than as a mismatch of `Executor::Scope`.
#[derive(Debug)]
pub enum Unreachable {}
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

/// The `META` of the stub `impl Model` the derive emits next to its
/// errors, so code using the model adds none. The build stops at those
/// errors, so nothing ever reads it.
pub const FALLBACK_META: ModelMeta = ModelMeta {
    name: "",
    table: "",
    schema: None,
    qualified: "",
    columns: &[],
    select_list: "",
    insert_columns: &[],
    primary_key: "",
    deleted_at: None,
    version: None,
    cache_ttl_secs: None,
    tenant: None,
    audit: None,
    sql: Statements {
        get: "",
        get_with_deleted: "",
        find_many: "",
        insert: "",
        copy_in: "",
        update: "",
        patch: "",
        patch_shape: PatchTemplate {
            head: "",
            sets: &[],
            stamps: "",
            key: "",
            version: "",
            tenant: "",
            tail: "",
        },
        upsert: "",
        delete: "",
        restore: "",
        hard_delete: "",
        exists: "",
        count: "",
    },
};

/// The `true` flag of a present patch field.
pub const PRESENT: &bool = &true;
/// The `false` flag of an absent patch field.
pub const ABSENT: &bool = &false;

/// A patch field's flag: whether the field is present.
pub fn flag<T>(field: &Option<T>) -> &'static bool {
    if field.is_some() { PRESENT } else { ABSENT }
}

/// Every column of a model must be a type PostgreSQL can store.
///
/// Generated code touches a column's type only through this trait
/// (`<T as ColumnType>::decode`, `::param`, `::param_opt`, `::accepts`,
/// each spanned at the field's type), so an unsupported type fails the same
/// obligation at the same span everywhere and the compiler shows it once,
/// with this message. The blanket impl is `do_not_recommend`: the error
/// names this trait, not whichever of `ToSql`/`FromSql` is missing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a PostgreSQL column",
    label = "unsupported column type",
    note = "supported: integers, floats, bool, String, Vec<u8>, strata::Timestamp, uuid::Uuid, chrono date/time types, serde_json::Value, strata::Json<T>, rust_decimal::Decimal, a `TextEnum`, any type with `ToSql` and `FromSql`, a flat Vec<T> of those, and Option<T>; mark other fields `#[model(skip)]`"
)]
pub trait ColumnType: Sized {
    /// Whether a PostgreSQL column of type `ty` decodes into `Self`
    /// (`ColumnMeta::accepts`).
    fn accepts(ty: &Type) -> bool;

    /// Reads column `idx` of `row`, naming the column on failure.
    fn decode(row: &Row, idx: usize, column: &'static str) -> Result<Self>;

    /// The value as a statement parameter.
    fn param(&self) -> &(dyn ToSql + Sync);

    /// A patch field as a statement parameter: NULL when absent.
    fn param_opt(value: &Option<Self>) -> &(dyn ToSql + Sync);

    /// Several values as one array parameter (`= ANY($1)`). A `&Vec`, not
    /// a slice: the parameter is the `Vec` itself (`Vec<T>: ToSql`).
    #[allow(clippy::ptr_arg)]
    fn param_array(values: &Vec<Self>) -> &(dyn ToSql + Sync);
}

#[diagnostic::do_not_recommend]
impl<T: ToSql + for<'a> FromSql<'a> + Send + Sync> ColumnType for T {
    #[inline]
    fn accepts(ty: &Type) -> bool {
        <T as FromSql<'_>>::accepts(ty)
    }

    #[inline]
    fn decode(row: &Row, idx: usize, column: &'static str) -> Result<Self> {
        decode(row, idx, column)
    }

    #[inline]
    fn param(&self) -> &(dyn ToSql + Sync) {
        self
    }

    #[inline]
    fn param_opt(value: &Option<Self>) -> &(dyn ToSql + Sync) {
        value
    }

    #[inline]
    fn param_array(values: &Vec<Self>) -> &(dyn ToSql + Sync) {
        values
    }
}

/// The primary key's column-type functions, reached through the model:
/// generic over `M`, they rely on `Model::Key`'s `ColumnType` bound, so
/// the derive's uses of the key add no obligation on its type beyond that
/// bound (one error for a key type PostgreSQL cannot store).
#[derive(Debug)]
pub struct KeyColumn<M>(core::marker::PhantomData<M>);

impl<M: Model> KeyColumn<M> {
    /// [`ColumnType::accepts`] of the key.
    #[inline]
    pub fn accepts(ty: &Type) -> bool {
        <M::Key as ColumnType>::accepts(ty)
    }

    /// [`ColumnType::decode`] of the key.
    #[inline]
    pub fn decode(row: &Row, idx: usize, column: &'static str) -> Result<M::Key> {
        <M::Key as ColumnType>::decode(row, idx, column)
    }

    /// [`ColumnType::param`] of the key.
    #[inline]
    pub fn param(key: &M::Key) -> &(dyn ToSql + Sync) {
        key.param()
    }
}

/// `#[model(deleted_at)]` must be a nullable timestamp.
#[diagnostic::on_unimplemented(
    message = "`#[model(deleted_at)]` must be `Option<strata::Timestamp>`, `Option<DateTime<Utc>>` or `Option<NaiveDateTime>`, not `{Self}`",
    label = "not a nullable timestamp"
)]
pub trait DeletedAtType {}
impl DeletedAtType for Option<crate::Timestamp> {}

/// `#[model(version)]` must be an integer.
#[diagnostic::on_unimplemented(
    message = "`#[model(version)]` must be an integer (`i16`, `i32` or `i64`), not `{Self}`",
    label = "not an integer"
)]
pub trait VersionType {
    /// The SQL type of the expected-version placeholder in `patch`
    /// (`$n::int4 IS NULL OR ..`), so a bound `Option<i32>` meets an `int4`.
    const CAST: &'static str;
}
impl VersionType for i16 {
    const CAST: &'static str = "int2";
}
impl VersionType for i32 {
    const CAST: &'static str = "int4";
}
impl VersionType for i64 {
    const CAST: &'static str = "int8";
}

/// The length of `parts` joined: the array length for [`concat`].
pub const fn concat_len(parts: &[&str]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < parts.len() {
        len += parts[i].len();
        i += 1;
    }
    len
}

/// `parts` joined, at compile time: a statement whose text holds a
/// trait's constant (`VersionType::CAST`). `N` is [`concat_len`] of them;
/// [`as_str`] makes the bytes a `&str` again.
pub const fn concat<const N: usize>(parts: &[&str]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    let mut i = 0;
    while i < parts.len() {
        let bytes = parts[i].as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            out[at] = bytes[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

/// The text [`concat`] joined (whole `&str`s, so always UTF-8).
pub const fn as_str(bytes: &'static [u8]) -> &'static str {
    match core::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => panic!("joined statement text is not UTF-8"),
    }
}

/// `#[model(updated_at)]` must be a timestamp.
#[diagnostic::on_unimplemented(
    message = "`#[model(updated_at)]` must be a timestamp (`strata::Timestamp`, `DateTime<Utc>`, `NaiveDateTime`, or an `Option` of one), not `{Self}`",
    label = "not a timestamp"
)]
pub trait UpdatedAtType {}
impl UpdatedAtType for crate::Timestamp {}
impl UpdatedAtType for Option<crate::Timestamp> {}

/// The chrono types `deleted_at` and `updated_at` take (one block, so a
/// compiler note listing the impls shows no `cfg` lines).
#[cfg(feature = "chrono")]
mod chrono_times {
    use super::{DeletedAtType, UpdatedAtType};
    use chrono::{DateTime, NaiveDateTime, Utc};

    impl DeletedAtType for Option<DateTime<Utc>> {}
    impl DeletedAtType for Option<NaiveDateTime> {}
    impl UpdatedAtType for DateTime<Utc> {}
    impl UpdatedAtType for NaiveDateTime {}
    impl UpdatedAtType for Option<DateTime<Utc>> {}
    impl UpdatedAtType for Option<NaiveDateTime> {}
}

/// `#[model(skip)]` fields are filled with `Default::default()` when read.
#[diagnostic::on_unimplemented(
    message = "`#[model(skip)]` field of type `{Self}` needs `Default`",
    label = "does not implement `Default`"
)]
pub trait SkipType {}
impl<T: Default> SkipType for T {}

/// A PostgreSQL array holds scalars, so an array of arrays in Rust (`Vec<Vec<i32>>`)
/// can neither be bound nor read: `tokio-postgres` would reject every
/// statement at run time. The derive finds such a type by its shape and
/// asserts that the inner type is the one array-like type that is a scalar
/// to PostgreSQL, `Vec<u8>` (`bytea`, so `Vec<Vec<u8>>` is a `bytea[]`).
#[diagnostic::on_unimplemented(
    message = "`{Field}` is an array of arrays, which PostgreSQL cannot bind or read as a nested `Vec`",
    label = "an array inside an array",
    note = "write a flat `Vec` (e.g. `Vec<i32>`, with the row length in another column), or store the nested value as JSON with `strata::Json<{Field}>`"
)]
pub trait ArrayElement<Field: ?Sized> {}
#[diagnostic::do_not_recommend]
impl<Field: ?Sized, T: Bytea> ArrayElement<Field> for T {}

/// The array-like types PostgreSQL stores as one scalar, `bytea`.
pub trait Bytea {}
impl Bytea for Vec<u8> {}

/// Compile-time assertion helpers: `assert_version::<T>()` fails to
/// compile, at the span the derive gives it, when `T` lacks the trait.
/// (Every column's `ColumnType` is asserted by `ColumnMeta::accepts`, and
/// `version`'s `VersionType` by naming `<T as VersionType>::CAST`.)
pub fn assert_deleted_at<T: DeletedAtType + ?Sized>() {}
/// See [`assert_deleted_at`].
pub fn assert_updated_at<T: UpdatedAtType + ?Sized>() {}
/// See [`assert_deleted_at`].
pub fn assert_skip<T: SkipType + ?Sized>() {}
/// See [`assert_deleted_at`]: `Field` is an array of `Inner` arrays.
pub fn assert_array_element<Field: ?Sized, Inner: ArrayElement<Field> + ?Sized>() {}

/// `deserialize_with` of a nullable column's field in a patch that derives
/// `serde::Deserialize` (`#[model(derive_inputs(..))]`): a JSON `null` is
/// `Some(None)` (set the column to NULL) where serde alone would make it
/// `None` (leave it as it is); an absent field stays `None`.
pub fn patch_nullable<'de, D, T>(d: D) -> core::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize<'de>>::deserialize(d).map(Some)
}

/// `deserialize_with` of a NOT NULL column's field in such a patch: a
/// value sets it, an absent field leaves it, and a JSON `null` is an
/// error (the column cannot be NULL, and reading it as "absent" would
/// silently drop the client's intent).
pub fn patch_required<'de, D, T>(d: D) -> core::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}
