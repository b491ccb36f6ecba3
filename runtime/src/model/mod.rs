//! What `#[derive(Model)]` implements, and the metadata it fixes at compile time.
//!
//! The derive emits every CRUD statement as a `&'static str` inside
//! [`ModelMeta`]; the runtime never formats SQL for them. Statement shapes,
//! with `$1` always the primary key where there is one:
//!
//! | statement | shape |
//! | --- | --- |
//! | `get` | `SELECT <cols> FROM <t> WHERE <pk> = $1 [AND <deleted_at> IS NULL]` |
//! | `get_with_deleted` | the same without the soft-delete filter |
//! | `find_many` | `SELECT <cols> FROM <t> WHERE <pk> = ANY($1) [AND <deleted_at> IS NULL]` |
//! | `insert` | `INSERT INTO <t> (<insertable>) VALUES ($1..$n) RETURNING <cols>` |
//! | `update` | `UPDATE <t> SET <w1> = $2, .. [, <updated_at> = now()] [, <version> = <version> + 1] WHERE <pk> = $1 [AND <version> = $n] [AND <deleted_at> IS NULL] RETURNING <cols>` |
//! | `patch` | `UPDATE <t> SET <w1> = CASE WHEN $2 THEN $3 ELSE <w1> END, .. WHERE <pk> = $1 [AND ($m::<int> IS NULL OR <version> = $m)] [AND <deleted_at> IS NULL] RETURNING <cols>` |
//! | `upsert` | `insert` + `ON CONFLICT (<unique or pk>) DO UPDATE SET <w> = EXCLUDED.<w>, ..` |
//! | `delete` | soft: `UPDATE <t> SET <deleted_at> = now() WHERE <pk> = $1 AND <deleted_at> IS NULL`; else `DELETE FROM <t> WHERE <pk> = $1` |
//! | `restore` | `UPDATE <t> SET <deleted_at> = NULL WHERE <pk> = $1 RETURNING <cols>` (soft delete only) |
//! | `hard_delete` | `DELETE FROM <t> WHERE <pk> = $1` |
//! | `exists` | `SELECT EXISTS (SELECT 1 FROM <t> WHERE <pk> = $1 [AND <deleted_at> IS NULL])` |
//! | `count` | `SELECT count(*) FROM <t> [WHERE <deleted_at> IS NULL]` |
//!
//! `patch` runs a statement that sets only the fields present:
//! `UPDATE <t> SET <a> = $2, <c> = $3 [, stamps] WHERE <pk> = $1 [AND <version> = $4]
//! [AND <deleted_at> IS NULL] RETURNING <cols>`. It is assembled once per set
//! of present fields from the derive's compile-time pieces
//! ([`PatchTemplate`]) and cached (at most 64 shapes per model). An empty
//! patch, a model past 64 optional fields, and shapes past that cap take
//! `sql.patch`, the one fixed statement above that binds a flag and a value
//! per column: it is what keeps data-driven patches (a JSON `PATCH`
//! endpoint) from preparing one statement per combination of fields.

mod batch;
mod bulk;
mod column;
mod cursor;
mod effects;
mod many;
mod ops;
mod patch;
mod query;
pub(crate) mod relation;
pub(crate) mod scope;
mod shape;
pub(crate) mod tenancy;
mod text_enum;
mod unique;

pub use bulk::COPY_THRESHOLD;
pub use column::{Assignment, Column, Filter, Operand, Order, SetValue, escape_like};
pub use cursor::Cursor;
pub use ops::ModelExt;
pub use query::{Keyset, Page, Query};
pub use relation::{BelongsTo, HasMany, Including, LoadOn, Nested, Relation, RelationKey};
pub use text_enum::{TextEnum, text_enum_accepts, text_enum_from_sql, text_enum_to_sql};
pub(crate) use unique::{offending_row, unique_field};

use tokio_postgres::Row;

use crate::__private::ColumnType;
use crate::error::Result;
use crate::validate::ValidationErrors;

pub use crate::executor::ParamList;

/// One column of a model, as the derive saw it.
#[derive(Debug, Clone, Copy)]
pub struct ColumnMeta {
    /// The Rust field name.
    pub field: &'static str,
    /// The column name (unquoted).
    pub name: &'static str,
    /// `Option<T>` in Rust: NULL allowed.
    pub nullable: bool,
    /// Filled by the database (`#[model(generated)]`); not in inserts.
    pub generated: bool,
    /// `#[model(primary_key)]`.
    pub primary_key: bool,
    /// `#[model(unique)]`.
    pub unique: bool,
    /// Whether a PostgreSQL column of this type decodes into the field's
    /// Rust type (its `FromSql::accepts`), for checking a schema against
    /// the model.
    pub accepts: fn(&tokio_postgres::types::Type) -> bool,
}

/// The compile-time SQL of one model. See the module docs for the shapes.
#[derive(Debug, Clone, Copy)]
pub struct Statements {
    /// By primary key, hiding soft-deleted rows.
    pub get: &'static str,
    /// By primary key, soft-deleted rows included.
    pub get_with_deleted: &'static str,
    /// By a primary-key array (`= ANY($1)`).
    pub find_many: &'static str,
    /// One row, RETURNING every column.
    pub insert: &'static str,
    /// `COPY <t> (<insertable>) FROM STDIN BINARY`.
    pub copy_in: &'static str,
    /// The whole row by primary key.
    pub update: &'static str,
    /// Present fields only (flag + value per writable column): the
    /// fallback for shapes [`PatchTemplate`] does not cover.
    pub patch: &'static str,
    /// The pieces of a `patch` that sets only the present fields.
    pub patch_shape: PatchTemplate,
    /// Insert, or update on conflict of the unique (else primary key) columns.
    pub upsert: &'static str,
    /// Soft delete when the model has one, else hard delete.
    pub delete: &'static str,
    /// Clears `deleted_at`; empty when the model has no soft delete.
    pub restore: &'static str,
    /// Always removes the row.
    pub hard_delete: &'static str,
    /// Whether a visible row has this key.
    pub exists: &'static str,
    /// Number of visible rows.
    pub count: &'static str,
}

/// The compile-time pieces of a `patch` statement for one set of present
/// fields: `head`, then `sets[i]` followed by its placeholder number for
/// each present field, joined by `, `, then `stamps`, `key`, `version`
/// followed by its number when an expected version is given, `tenant`
/// followed by its number on a tenant model, and `tail`.
#[derive(Debug, Clone, Copy)]
pub struct PatchTemplate {
    /// `UPDATE <t> SET `.
    pub head: &'static str,
    /// `<w> = $`, one per writable column in field order.
    pub sets: &'static [&'static str],
    /// `, <updated_at> = now(), <version> = <version> + 1`, or empty.
    pub stamps: &'static str,
    /// ` WHERE <pk> = $1`.
    pub key: &'static str,
    /// ` AND <version> = $`, or empty without a version column.
    pub version: &'static str,
    /// ` AND <tenant> = $` on a tenant model (numbered last), else empty.
    pub tenant: &'static str,
    /// `[ AND <deleted_at> IS NULL] RETURNING <cols>`.
    pub tail: &'static str,
}

/// Everything the runtime needs to know about a model, fixed at compile time.
#[derive(Debug, Clone, Copy)]
pub struct ModelMeta {
    /// The Rust struct name.
    pub name: &'static str,
    /// The table name (unquoted).
    pub table: &'static str,
    /// The schema, when `#[model(schema = "..")]` names one.
    pub schema: Option<&'static str>,
    /// `"schema"."table"` or `"table"`, quoted.
    pub qualified: &'static str,
    /// Every column, in field order.
    pub columns: &'static [ColumnMeta],
    /// Quoted, comma-separated list of every column, for SELECT and RETURNING.
    pub select_list: &'static str,
    /// The insertable columns, unquoted, in `insert` parameter order.
    pub insert_columns: &'static [&'static str],
    /// The primary key column (unquoted).
    pub primary_key: &'static str,
    /// The soft-delete column (unquoted), when the model has `soft_delete`.
    pub deleted_at: Option<&'static str>,
    /// The optimistic-lock column (unquoted).
    pub version: Option<&'static str>,
    /// `#[model(cache(ttl_secs = N))]`.
    pub cache_ttl_secs: Option<u64>,
    /// The tenant column of a tenant model (`#[model(tenant = ..)]`): every
    /// statement above then also filters on it (inserts set it), bound as
    /// its last parameter.
    pub tenant: Option<crate::tenant::TenantMeta>,
    /// `#[model(audit)]`: a trigger records every write of the table in the
    /// audit log ([`crate::audit`]).
    pub audit: Option<AuditMeta>,
    /// The statements.
    pub sql: Statements,
}

/// How `#[model(audit)]` keeps a model's fields, from the derive:
/// `#[model(audit(exclude))]` fields are left out of `before` and `after`,
/// `#[model(audit(redact))]` ones masked as `"[redacted]"` (the change is
/// visible, the value is not).
#[derive(Debug, Clone, Copy)]
pub struct AuditMeta {
    /// Columns left out of the records.
    pub exclude: &'static [&'static str],
    /// Columns whose values the records mask.
    pub redact: &'static [&'static str],
}

/// A table-backed struct. Implemented by `#[derive(Model)]`; the operations
/// (`insert`, `get`, `query`, ...) come from the blanket [`ModelExt`].
pub trait Model: Sized + Send + Sync + 'static {
    /// The primary key's Rust type.
    type Key: ColumnType + Sync + Send + Clone + std::fmt::Debug + 'static;
    /// The insert input (`NewUser`).
    type New: NewModel<Model = Self>;
    /// The partial update (`UserPatch`).
    type Patch: PatchModel<Model = Self>;

    /// Table, columns and statements.
    const META: &'static ModelMeta;

    /// Decodes a row selected with `META.select_list`.
    ///
    /// Returns `Error::Decode` naming the column when a value does not fit.
    fn from_row(row: &Row) -> Result<Self>;

    /// The primary key value.
    fn key(&self) -> &Self::Key;

    /// Parameters of `META.sql.update`: the key, each writable column in
    /// order, then the current version when the model has one.
    fn update_params(&self) -> ParamList<'_>;

    /// Checks the `#[validate]` rules of every field and the model rule.
    fn validate(&self) -> std::result::Result<(), ValidationErrors>;
}

/// A model with soft delete (`#[model(soft_delete)]` and a
/// `#[model(deleted_at)]` field): `delete` sets `deleted_at`, reads hide
/// such rows, and [`ModelExt::restore`] clears it again. Implemented by the
/// derive for exactly those models, so `restore` on any other model is a
/// compile error rather than a failure at run time.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no soft delete, so there is nothing to `restore`",
    label = "`restore` needs a model with soft delete",
    note = "add `#[model(soft_delete)]` to `{Self}` and mark a field `#[model(deleted_at)]`, e.g. `deleted_at: Option<DateTime<Utc>>`"
)]
pub trait SoftDelete: Model {}

/// The insert input of a model (`NewUser`). Implemented by the derive.
pub trait NewModel: Send + Sync {
    /// The model it inserts.
    type Model: Model<New = Self>;

    /// Parameters of `META.sql.insert`, in `META.insert_columns` order.
    fn insert_params(&self) -> ParamList<'_>;

    /// Checks the `#[validate]` rules of the fields it has.
    fn validate(&self) -> std::result::Result<(), ValidationErrors>;
}

/// The partial update of a model (`UserPatch`). Implemented by the derive.
pub trait PatchModel: Send + Sync + Default {
    /// The model it updates.
    type Model: Model<Patch = Self>;

    /// Parameters of `META.sql.patch` after the key: a `bool` flag and a
    /// value per writable column, then the expected version (`Option`) when
    /// the model has one.
    fn patch_params(&self) -> ParamList<'_>;

    /// Which optional fields are present: bit `i` for writable field `i`,
    /// and the bit after the last one for the expected version. `None` when
    /// the model has more than 64 of them.
    fn shape(&self) -> Option<u64>;

    /// The present fields' values in field order, then the expected
    /// version if present: the parameters after the key of the statement
    /// [`PatchTemplate`] assembles for [`PatchModel::shape`]. Allocated with
    /// room for the key in front.
    fn present_params(&self) -> ParamList<'_>;

    /// Checks the `#[validate]` rules of the fields that are present.
    fn validate(&self) -> std::result::Result<(), ValidationErrors>;
}
