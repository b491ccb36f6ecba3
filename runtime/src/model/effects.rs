//! The pipeline's **effects** stage for model writes: the one path every
//! model write takes after its statement, which tells the cache what
//! changed (now on `Db`, after `COMMIT` in a transaction, also when the
//! caller drops the future half-way). Audit rows and the change feed plug
//! in here.

use super::ops::{decode_one, not_found};
use super::scope::Scope;
use super::{Model, NewModel, unique_field};
use crate::__private::ColumnType;
use crate::cache::Invalidation;
use crate::error::{Error, Result};
use crate::executor::{Executor, OpKind};
use crate::pipeline::{run_execute, run_query_opt};

/// The single path every single-row model write returning its row takes:
/// runs it, decodes the row, and tells the cache (after COMMIT inside a
/// transaction) that the row changed. Audit hooks belong here too.
pub(crate) async fn write_row<M: Model, E: Executor + ?Sized>(
    e: &E,
    scope: Scope<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    touches: Touches<'_, M::Key>,
) -> Result<Option<M>> {
    let guard = arm::<M, E>(e, scope, touches);
    let row = run_query_opt(e, sql, params, OpKind::Write, scope.around().returning())
        .await
        .map_err(unique_field::<M>)
        .and_then(decode_one::<M>);
    if let Ok(Some(row)) = &row {
        changed_row::<M, E>(e, scope, row.key()).await;
    }
    settle(guard, &row);
    row
}

/// `insert` and `upsert`: validate the input, write it, return the row.
pub(super) async fn write_new<M: Model, E: Executor + ?Sized>(
    e: &E,
    new: &M::New,
    sql: &str,
    touches: Touches<'_, M::Key>,
) -> Result<M> {
    new.validate()?;
    let scope = Scope::checked::<M, E>(e).await?;
    write_row(e, scope, sql, &scope.push(new.insert_params()), touches)
        .await?
        .ok_or_else(|| not_found(M::META))
}

/// The same path for single-row writes by key that return no row
/// (`delete`, `hard_delete`): `NotFound` when nothing matched.
pub(super) async fn write_key<M: Model, E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    key: &M::Key,
) -> Result<()> {
    let scope = Scope::checked::<M, E>(e).await?;
    let guard = arm::<M, E>(e, scope, Touches::Row(key));
    let params = scope.push(vec![key.param()]);
    let n = run_execute(e, sql, &params, OpKind::Write, scope.around().bare()).await;
    if let Ok(n) = n
        && n > 0
    {
        changed_row::<M, E>(e, scope, key).await;
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
    scope: Scope<'_>,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64> {
    let guard = arm::<M, E>(e, scope, Touches::AnyRow);
    let n = run_execute(e, sql, params, OpKind::Write, scope.around()).await;
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
pub(super) fn settle<T>(guard: Option<crate::cache::WriteGuard>, result: &Result<T>) {
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
pub(super) fn arm<M: Model, E: Executor + ?Sized>(
    e: &E,
    scope: Scope<'_>,
    touches: Touches<'_, M::Key>,
) -> Option<crate::cache::WriteGuard> {
    M::META.cache_ttl_secs?;
    let table = M::META.qualified;
    e.__write_guard(match touches {
        Touches::Row(key) => Invalidation::row(table, scope.row_id(key)),
        Touches::NewRow => Invalidation::lists(table),
        Touches::AnyRow => Invalidation::all(table),
    })
}

/// Tells the cache (after COMMIT, inside a transaction) that a row changed.
pub(super) async fn changed_row<M: Model, E: Executor + ?Sized>(
    e: &E,
    scope: Scope<'_>,
    key: &M::Key,
) {
    if M::META.cache_ttl_secs.is_some() {
        e.__invalidate(Invalidation::row(M::META.qualified, scope.row_id(key)))
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
