//! The operations every model gets, through the blanket [`ModelExt`].
//!
//! Each runs the derive's compile-time statement for it; reads are marked
//! [`OpKind::Read`] (retried once on a dead connection outside a
//! transaction, and the natural place for replica routing later), writes go
//! through [`write`], the one path that sees every changed row (the hook
//! point for cache invalidation and audit).

use std::borrow::Borrow;
use std::future::Future;
use std::pin::Pin;

use tokio_postgres::Row;
use tokio_postgres::binary_copy::BinaryCopyInWriter;

use super::{Model, ModelMeta, NewModel, ParamList, PatchModel, Query, SoftDelete, unique_field};
use crate::cache::{Invalidation, row_id};
use crate::error::{Error, Result};
use crate::executor::{
    Conn, Executor, OpKind, abandon, bounded, outcome_unknown, run_execute, run_query,
    run_query_opt,
};
use crate::validate::{FieldError, ValidationErrors};

/// Batches larger than this go through binary `COPY` instead of one
/// multi-row `INSERT`.
pub const COPY_THRESHOLD: usize = 256;

/// PostgreSQL's limit on bind parameters in one statement.
const MAX_PARAMS: usize = 65_535;

/// The single path every single-row model write returning its row takes:
/// runs it, decodes the row, and tells the cache (after COMMIT inside a
/// transaction) that the row changed. Audit hooks belong here too.
pub(crate) async fn write_row<M: Model, E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    touches: Touches<'_, M::Key>,
) -> Result<Option<M>> {
    let guard = arm::<M, E>(e, touches);
    let row = run_query_opt(e, sql, params, OpKind::Write)
        .await
        .map_err(unique_field::<M>)
        .and_then(decode_one::<M>);
    if let Ok(Some(row)) = &row {
        changed_row::<M, E>(e, row.key()).await;
    }
    settle(guard, &row);
    row
}

/// `insert` and `upsert`: validate the input, write it, return the row.
async fn write_new<M: Model, E: Executor + ?Sized>(
    e: &E,
    new: &M::New,
    sql: &str,
    touches: Touches<'_, M::Key>,
) -> Result<M> {
    new.validate()?;
    write_row(e, sql, &new.insert_params(), touches)
        .await?
        .ok_or_else(|| not_found(M::META))
}

/// The same path for single-row writes by key that return no row
/// (`delete`, `hard_delete`): `NotFound` when nothing matched.
async fn write_key<M: Model, E: Executor + ?Sized>(e: &E, sql: &str, key: &M::Key) -> Result<()> {
    let guard = arm::<M, E>(e, Touches::Row(key));
    let n = run_execute(e, sql, &[key], OpKind::Write).await;
    if let Ok(n) = n
        && n > 0
    {
        changed_row::<M, E>(e, key).await;
    }
    settle(guard, &n);
    match n? {
        0 => Err(not_found(M::META)),
        _ => Ok(()),
    }
}

/// The path of bulk writes by filter, which cannot name their rows: every
/// cached row and list of the model is retired, also if the caller drops
/// the future half-way.
pub(crate) async fn write_many<M: Model, E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64> {
    let guard = arm::<M, E>(e, Touches::AnyRow);
    let n = run_execute(e, sql, params, OpKind::Write).await;
    if let Ok(n) = n
        && n > 0
    {
        changed_table::<M, E>(e, false).await;
    }
    settle(guard, &n);
    n
}

/// Disarms a write's guard once its outcome is known. An unknown outcome
/// (the connection died with the write in flight) keeps it armed, so its
/// drop invalidates in case the write was applied.
fn settle<T>(guard: Option<crate::cache::WriteGuard>, result: &Result<T>) {
    if let Some(guard) = guard
        && !matches!(result, Err(Error::OutcomeUnknown { .. }))
    {
        guard.disarm();
    }
}

/// What a write may change, known before it is sent.
pub(crate) enum Touches<'a, K> {
    /// The row with this key.
    Row(&'a K),
    /// A new row (insert): cached rows stay valid.
    NewRow,
    /// A row whose key is not known yet (upsert may update any row).
    AnyRow,
}

/// Arms a guard that invalidates what `touches` names if the write is
/// abandoned half-way (autocommit only, cached models only).
fn arm<M: Model, E: Executor + ?Sized>(
    e: &E,
    touches: Touches<'_, M::Key>,
) -> Option<crate::cache::WriteGuard> {
    M::META.cache_ttl_secs?;
    let table = M::META.qualified;
    e.__write_guard(match touches {
        Touches::Row(key) => Invalidation::row(table, row_id(key)),
        Touches::NewRow => Invalidation::lists(table),
        Touches::AnyRow => Invalidation::all(table),
    })
}

/// Tells the cache (after COMMIT, inside a transaction) that a row changed.
async fn changed_row<M: Model, E: Executor + ?Sized>(e: &E, key: &M::Key) {
    if M::META.cache_ttl_secs.is_some() {
        e.__invalidate(Invalidation::row(M::META.qualified, row_id(key)))
            .await;
    }
}

/// Tells the cache that rows it cannot name changed (`all`) or that rows
/// were added (`lists` only).
pub(crate) async fn changed_table<M: Model, E: Executor + ?Sized>(e: &E, added_only: bool) {
    if M::META.cache_ttl_secs.is_some() {
        let table = M::META.qualified;
        let inv = if added_only {
            Invalidation::lists(table)
        } else {
            Invalidation::all(table)
        };
        e.__invalidate(inv).await;
    }
}

fn not_found(meta: &ModelMeta) -> Error {
    Error::NotFound { what: meta.table }
}

/// Why an update matched no row: gone (`NotFound`) or changed by someone
/// else (`StaleVersion`). Only asked on the failure path.
async fn missing_or_stale<M: Model, E: Executor + ?Sized>(e: &E, key: &M::Key) -> Error {
    if M::META.version.is_none() {
        return not_found(M::META);
    }
    match run_query_opt(e, M::META.sql.exists, &[key], OpKind::Read).await {
        Ok(row) if row.as_ref().is_some_and(|r| r.get::<_, bool>(0)) => Error::StaleVersion {
            table: M::META.table,
        },
        Ok(_) => not_found(M::META),
        Err(err) => err,
    }
}

fn decode_one<M: Model>(row: Option<Row>) -> Result<Option<M>> {
    row.as_ref().map(M::from_row).transpose()
}

/// Operations on every [`Model`], generic over the [`Executor`] (`&db`,
/// `&tx`). Import with `use strata::prelude::*`.
pub trait ModelExt: Model {
    /// Validates `new`, inserts it and returns the stored row (with
    /// generated columns filled).
    ///
    /// Returns `Error::Validation` before anything is sent when a rule
    /// fails, and `UniqueViolation` & co. when a constraint does.
    ///
    /// Takes the input by value or by reference (`&new`): a caller that
    /// keeps its rows need not clone them.
    fn insert<E: Executor + ?Sized>(
        e: &E,
        new: impl Borrow<Self::New> + Send,
    ) -> impl Future<Output = Result<Self>> + Send {
        async move {
            write_new::<Self, E>(e, new.borrow(), Self::META.sql.insert, Touches::NewRow).await
        }
    }

    /// Inserts many rows, all or nothing, and returns how many.
    ///
    /// Every row is validated first (`Error::Validation` names the row as
    /// `[i].field`). Up to [`COPY_THRESHOLD`] rows go in one multi-row
    /// `INSERT`; more go through one binary `COPY`. Either is a single
    /// statement, so a failing row leaves the table unchanged.
    ///
    /// Takes the rows by value (`Vec`) or borrowed (`&[..]`, `&Vec<..>`):
    /// a caller that keeps its rows need not clone them.
    ///
    /// A `UniqueViolation` names its row too: `row` is the index of the
    /// input row whose key PostgreSQL reports (the later copy, for a key
    /// repeated inside the batch), and [`Error::field_errors`] gives
    /// `[i].email`.
    fn insert_many<E: Executor + ?Sized>(
        e: &E,
        rows: impl AsRef<[Self::New]> + Send,
    ) -> impl Future<Output = Result<u64>> + Send {
        async move {
            let rows = rows.as_ref();
            let mut report = ValidationErrors::new();
            for (i, row) in rows.iter().enumerate() {
                if let Err(errors) = row.validate() {
                    for err in errors.errors {
                        report.push(FieldError {
                            field: format!("[{i}].{}", err.field).into(),
                            ..err
                        });
                    }
                }
            }
            report.into_result()?;
            let width = Self::META.insert_columns.len().max(1);
            let guard = arm::<Self, E>(e, Touches::NewRow);
            let n = if rows.is_empty() {
                Ok(0)
            } else if rows.len() <= COPY_THRESHOLD && rows.len() * width <= MAX_PARAMS {
                insert_values::<Self, E>(e, rows).await
            } else {
                copy_in::<Self, E>(e, rows).await
            }
            .map_err(|err| offending_row::<Self>(unique_field::<Self>(err), rows));
            if let Ok(n) = n
                && n > 0
            {
                changed_table::<Self, E>(e, true).await;
            }
            settle(guard, &n);
            n
        }
    }

    /// The row with this key; `Error::NotFound` if there is none (or it is
    /// soft-deleted).
    fn get<E: Executor + ?Sized>(
        e: &E,
        key: Self::Key,
    ) -> impl Future<Output = Result<Self>> + Send {
        async move {
            Self::find(e, key)
                .await?
                .ok_or_else(|| not_found(Self::META))
        }
    }

    /// The row with this key, if there is a visible one.
    fn find<E: Executor + ?Sized>(
        e: &E,
        key: Self::Key,
    ) -> impl Future<Output = Result<Option<Self>>> + Send {
        async move {
            let row = run_query_opt(e, Self::META.sql.get, &[&key], OpKind::Read).await?;
            decode_one(row)
        }
    }

    /// The visible rows with these keys, in no particular order; missing
    /// keys are skipped.
    fn find_many<E: Executor + ?Sized>(
        e: &E,
        keys: &[Self::Key],
    ) -> impl Future<Output = Result<Vec<Self>>> + Send {
        async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<Self::Key> = keys.to_vec();
            let rows = run_query(e, Self::META.sql.find_many, &[&keys], OpKind::Read).await?;
            rows.iter().map(Self::from_row).collect()
        }
    }

    /// Writes every writable column of `row` and returns the stored row.
    ///
    /// With a `version` column the update only applies if the stored
    /// version still equals `row`'s (and increments it); otherwise
    /// `Error::StaleVersion`. `Error::NotFound` if the row is gone.
    fn update<E: Executor + ?Sized>(
        e: &E,
        row: &Self,
    ) -> impl Future<Output = Result<Self>> + Send {
        async move {
            row.validate()?;
            let touches = Touches::Row(row.key());
            match write_row(e, Self::META.sql.update, &row.update_params(), touches).await? {
                Some(stored) => Ok(stored),
                None => Err(missing_or_stale::<Self, E>(e, row.key()).await),
            }
        }
    }

    /// Writes the fields present in `patch` and returns the stored row.
    ///
    /// If the patch names an expected version, a mismatch is
    /// `Error::StaleVersion`. `Error::NotFound` if there is no visible row.
    fn patch<E: Executor + ?Sized>(
        e: &E,
        key: Self::Key,
        patch: Self::Patch,
    ) -> impl Future<Output = Result<Self>> + Send {
        async move {
            patch.validate()?;
            let (sql, params) = super::patch::statement::<Self>(&key, &patch);
            match write_row(e, sql, &params, Touches::Row(&key)).await? {
                Some(stored) => Ok(stored),
                None => Err(missing_or_stale::<Self, E>(e, &key).await),
            }
        }
    }

    /// Inserts `new`, or updates the existing row that conflicts with it on
    /// the unique columns (the primary key if none is marked `unique`).
    fn upsert<E: Executor + ?Sized>(
        e: &E,
        new: Self::New,
    ) -> impl Future<Output = Result<Self>> + Send {
        async move { write_new::<Self, E>(e, &new, Self::META.sql.upsert, Touches::AnyRow).await }
    }

    /// Deletes the row: sets `deleted_at` when the model has `soft_delete`,
    /// removes it otherwise. `Error::NotFound` if there is no visible row.
    fn delete<E: Executor + ?Sized>(
        e: &E,
        key: Self::Key,
    ) -> impl Future<Output = Result<()>> + Send {
        async move { write_key::<Self, E>(e, Self::META.sql.delete, &key).await }
    }

    /// Clears `deleted_at` and returns the row. `Error::NotFound` if no row
    /// has this key. Only models with soft delete have it ([`SoftDelete`]);
    /// on any other model it is a compile error.
    ///
    /// The future is boxed: with an `impl Future` return type the compiler
    /// would report a missing `SoftDelete` three times (the call, its
    /// return type and the `.await`) instead of once.
    fn restore<'a, E: Executor + ?Sized>(
        e: &'a E,
        key: Self::Key,
    ) -> Pin<Box<dyn Future<Output = Result<Self>> + Send + 'a>>
    where
        Self: SoftDelete,
    {
        Box::pin(async move {
            // Only a hand-written `impl SoftDelete` can get here without a
            // soft-delete column; the derive implements it with one.
            if Self::META.deleted_at.is_none() {
                return Err(Error::Config {
                    var: "soft_delete",
                    reason: format!(
                        "model {} implements SoftDelete but has no deleted_at column",
                        Self::META.name
                    ),
                });
            }
            write_row(e, Self::META.sql.restore, &[&key], Touches::Row(&key))
                .await?
                .ok_or_else(|| not_found(Self::META))
        })
    }

    /// Removes the row for good, soft-deleted or not. `Error::NotFound` if
    /// no row has this key.
    fn hard_delete<E: Executor + ?Sized>(
        e: &E,
        key: Self::Key,
    ) -> impl Future<Output = Result<()>> + Send {
        async move { write_key::<Self, E>(e, Self::META.sql.hard_delete, &key).await }
    }

    /// Whether a visible row has this key.
    fn exists<E: Executor + ?Sized>(
        e: &E,
        key: Self::Key,
    ) -> impl Future<Output = Result<bool>> + Send {
        async move {
            let row = run_query_opt(e, Self::META.sql.exists, &[&key], OpKind::Read).await?;
            Ok(row.is_some_and(|r| r.get::<_, bool>(0)))
        }
    }

    /// Number of visible rows.
    fn count<E: Executor + ?Sized>(e: &E) -> impl Future<Output = Result<u64>> + Send {
        async move {
            let row = run_query_opt(e, Self::META.sql.count, &[], OpKind::Read).await?;
            let n: i64 = row.map_or(0, |r| r.get(0));
            Ok(u64::try_from(n).unwrap_or(0))
        }
    }

    /// A query builder over this model's visible rows.
    fn query() -> Query<Self> {
        Query::new()
    }
}

impl<M: Model> ModelExt for M {}

/// Finds the row of `rows` behind a batch's unique violation, from the key
/// values in PostgreSQL's detail (`Key (email)=(x) already exists.`).
///
/// Each row's key parameters are rendered as PostgreSQL prints them in that
/// detail (text exactly; numbers, UUIDs and booleans by their plain form)
/// and compared with the whole value list. With one match, that row failed;
/// with several, the batch repeats the key, and the second copy is the one
/// the server refused (the first went in, or met the same stored row: the
/// batch can only succeed without the repeat either way).
fn offending_row<M: Model>(err: Error, rows: &[M::New]) -> Error {
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

/// One multi-row `INSERT ... VALUES (..), (..)`. The shape depends on the
/// row count, so it is built here from the derive's column list.
async fn insert_values<M: Model, E: Executor + ?Sized>(e: &E, rows: &[M::New]) -> Result<u64> {
    let meta = M::META;
    let width = meta.insert_columns.len();
    let mut sql = format!("INSERT INTO {} (", meta.qualified);
    for (i, c) in meta.insert_columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push('"');
        sql.push_str(&c.replace('"', "\"\""));
        sql.push('"');
    }
    sql.push_str(") VALUES ");
    let mut n = 0;
    for r in 0..rows.len() {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            n += 1;
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        if width == 0 {
            sql.push_str("DEFAULT");
        }
        sql.push(')');
    }
    let params: ParamList<'_> = rows.iter().flat_map(NewModel::insert_params).collect();
    run_execute(e, &sql, &params, OpKind::Write).await
}

/// One binary `COPY ... FROM STDIN`: the fastest bulk path PostgreSQL has.
/// Column types come from preparing the single-row insert, which the
/// connection's statement cache already holds after the first call.
async fn copy_in<M: Model, E: Executor + ?Sized>(e: &E, rows: &[M::New]) -> Result<u64> {
    let db = e.__db();
    crate::observe::counters::bump(&db.inner.counters.queries);
    let started = std::time::Instant::now();
    let conn = e.__conn().await?;
    let pooled = matches!(conn, Conn::Pooled(_));
    // The whole COPY is one statement: the server's statement_timeout bounds
    // it, and so does the client-side bound, against a silent network.
    let result = match bounded(e.__statement_bound(), copy_body::<M>(&conn, rows, pooled)).await {
        Ok(result) => result,
        Err(elapsed) => {
            abandon(e, conn, db);
            Err(if pooled {
                Error::OutcomeUnknown {
                    source: "no answer to COPY within the client-side statement bound".into(),
                }
            } else {
                elapsed
            })
        }
    };
    let n = *result.as_ref().unwrap_or(&0);
    if let Err(err) = &result {
        db.inner.counters.failed(err);
    }
    db.inner.observer.statement(
        M::META.sql.copy_in,
        M::META.insert_columns.len(),
        started.elapsed(),
        n,
        result.is_ok(),
    );
    result
}

async fn copy_body<M: Model>(conn: &Conn<'_>, rows: &[M::New], pooled: bool) -> Result<u64> {
    // In autocommit mode a lost connection mid-COPY may or may not have
    // committed; inside a transaction the server rolled it back.
    let lost = |err: tokio_postgres::Error| {
        if pooled {
            outcome_unknown(Error::from_pg(err))
        } else {
            Error::from_pg(err)
        }
    };
    let insert = conn
        .prepare_cached(M::META.sql.insert)
        .await
        .map_err(Error::from_pg)?;
    let types = insert.params().to_vec();
    // A NUL in text would fail the whole COPY at the server (22021): find
    // it first, and name the row and column.
    if crate::sql::values::checks_any(&types) {
        for (i, row) in rows.iter().enumerate() {
            if let Some(c) = crate::sql::values::nul_param(&types, &row.insert_params()) {
                let column = M::META.insert_columns.get(c).copied().unwrap_or("?");
                return Err(Error::InvalidInput {
                    reason: format!(
                        "the value for column `[{i}].{column}` holds a NUL character, which \
                         PostgreSQL cannot store in text or jsonb; remove it, or store the \
                         value as bytea"
                    ),
                });
            }
        }
    }
    let sink = conn
        .copy_in(M::META.sql.copy_in)
        .await
        .map_err(Error::from_pg)?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    futures_util::pin_mut!(writer);
    for row in rows {
        writer
            .as_mut()
            .write(&row.insert_params())
            .await
            .map_err(lost)?;
    }
    writer.finish().await.map_err(lost)
}
