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
use tokio_postgres::types::ToSql;

use super::bulk;
use super::effects::{Touches, arm, changed_table, settle, write_key, write_new, write_row};
use super::scope::Scope;
use super::{
    Model, ModelMeta, NewModel, PatchModel, Query, SoftDelete, offending_row, unique_field,
};
use crate::__private::ColumnType;
use crate::error::{Error, Result};
use crate::executor::{Executor, OpKind};
use crate::pipeline::run_query_opt;
use crate::tenant::RunsOn;
use crate::validate::{FieldError, ValidationErrors};

pub(super) fn not_found(meta: &ModelMeta) -> Error {
    Error::NotFound { what: meta.table }
}

/// Why an update matched no row: gone (`NotFound`) or changed by someone
/// else (`StaleVersion`). Only asked on the failure path.
async fn missing_or_stale<M: Model, E: Executor + ?Sized>(
    e: &E,
    scope: Scope<'_>,
    key: &M::Key,
) -> Error {
    if M::META.version.is_none() {
        return not_found(M::META);
    }
    let params = by_key(key, scope);
    match run_query_opt(
        e,
        M::META.sql.exists,
        params.get(),
        OpKind::Read,
        scope.around(),
    )
    .await
    {
        Ok(row) if row.as_ref().is_some_and(|r| r.get::<_, bool>(0)) => Error::StaleVersion {
            table: M::META.table,
        },
        Ok(_) => not_found(M::META),
        Err(err) => err,
    }
}

/// The parameters of a by-key statement: the key, then the tenant. On
/// the stack: a `get` allocates nothing for them.
enum ByKey<'a> {
    Plain([&'a (dyn ToSql + Sync); 1]),
    Tenant([&'a (dyn ToSql + Sync); 2]),
}

impl<'a> ByKey<'a> {
    fn get(&self) -> &[&'a (dyn ToSql + Sync)] {
        match self {
            ByKey::Plain(p) => p,
            ByKey::Tenant(p) => p,
        }
    }
}

#[inline]
fn by_key<'a, K: ColumnType>(key: &'a K, scope: Scope<'a>) -> ByKey<'a> {
    match scope.tenant {
        Some(t) => ByKey::Tenant([key.param(), t]),
        None => ByKey::Plain([key.param()]),
    }
}

/// One `find`, as its own statement (not batched).
pub(super) async fn find_direct<M: Model, E: Executor + ?Sized>(
    e: &E,
    key: M::Key,
) -> Result<Option<M>> {
    let scope = Scope::of::<M, E>(e)?;
    if scope.rls {
        super::tenancy::rls::ensure::<M, E>(e).await?;
    }
    let params = by_key(&key, scope);
    let row = run_query_opt(
        e,
        M::META.sql.get,
        params.get(),
        OpKind::Read,
        scope.around(),
    )
    .await?;
    decode_one(row)
}

pub(super) fn decode_one<M: Model>(row: Option<Row>) -> Result<Option<M>> {
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
    ) -> impl Future<Output = Result<Self>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
        async move {
            write_new::<Self, E>(e, new.borrow(), Self::META.sql.insert, Touches::NewRow).await
        }
    }

    /// Inserts many rows, all or nothing, and returns how many.
    ///
    /// Every row is validated first (`Error::Validation` names the row as
    /// `[i].field`). Up to [`COPY_THRESHOLD`](crate::COPY_THRESHOLD) rows go in one multi-row
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
    ) -> impl Future<Output = Result<u64>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
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
            let scope = Scope::checked::<Self, E>(e).await?;
            let guard = arm::<Self, E>(e, scope, Touches::NewRow);
            let n = bulk::insert_rows::<Self, E>(e, scope, rows)
                .await
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
    fn get<E: Executor + ?Sized>(e: &E, key: Self::Key) -> impl Future<Output = Result<Self>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
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
    ) -> impl Future<Output = Result<Option<Self>>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
        async move {
            match e.__batches_gets() && Self::META.tenant.is_none() {
                true => super::batch::find::<Self>(e.__db(), key).await,
                false => find_direct::<Self, E>(e, key).await,
            }
        }
    }

    /// The visible rows with these keys, in no particular order; missing
    /// keys are skipped.
    fn find_many<E: Executor + ?Sized>(
        e: &E,
        keys: &[Self::Key],
    ) -> impl Future<Output = Result<Vec<Self>>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
        async move {
            let rows = super::many::rows_of::<Self, E>(e, keys).await?;
            rows.iter().map(Self::from_row).collect()
        }
    }

    /// The rows with these keys, **one slot per key, in the order given**:
    /// `Some(row)` for a visible row, `None` where there is none (or it is
    /// soft-deleted); a key given twice gets its row twice.
    ///
    /// One statement however many keys: the distinct keys are bound as one
    /// array (`= ANY($1)`), so 100,000 keys are one parameter.
    /// [`find_many`](Self::find_many) runs the same statement but returns
    /// only the rows found, in no particular order.
    fn get_many<E: Executor + ?Sized>(
        e: &E,
        keys: &[Self::Key],
    ) -> impl Future<Output = Result<Vec<Option<Self>>>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
        super::many::get_many::<Self, E>(e, keys)
    }

    /// Writes every writable column of `row` and returns the stored row.
    ///
    /// With a `version` column the update only applies if the stored
    /// version still equals `row`'s (and increments it); otherwise
    /// `Error::StaleVersion`. `Error::NotFound` if the row is gone.
    fn update<E: Executor + ?Sized>(e: &E, row: &Self) -> impl Future<Output = Result<Self>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
        async move {
            row.validate()?;
            let scope = Scope::checked::<Self, E>(e).await?;
            let touches = Touches::Row(row.key());
            let params = scope.push(row.update_params());
            match write_row(e, scope, Self::META.sql.update, &params, touches).await? {
                Some(stored) => Ok(stored),
                None => Err(missing_or_stale::<Self, E>(e, scope, row.key()).await),
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
    ) -> impl Future<Output = Result<Self>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
        async move {
            patch.validate()?;
            let scope = Scope::checked::<Self, E>(e).await?;
            if let Some((sql, params)) = super::patch::empty::<Self>(&key, &patch) {
                // Nothing to write: the row as it stands, on the primary
                // (`Write` routing: a replica could hide a newer version).
                let params = scope.push(params);
                let row = run_query_opt(e, sql, &params, OpKind::Write, scope.around()).await?;
                return match decode_one::<Self>(row)? {
                    Some(stored) => Ok(stored),
                    None => Err(missing_or_stale::<Self, E>(e, scope, &key).await),
                };
            }
            let (sql, params) = super::patch::statement::<Self>(&key, &patch);
            let params = scope.push(params);
            match write_row(e, scope, sql, &params, Touches::Row(&key)).await? {
                Some(stored) => Ok(stored),
                None => Err(missing_or_stale::<Self, E>(e, scope, &key).await),
            }
        }
    }

    /// Inserts `new`, or updates the existing row that conflicts with it on
    /// the unique columns (the primary key if none is marked `unique`).
    fn upsert<E: Executor + ?Sized>(
        e: &E,
        new: Self::New,
    ) -> impl Future<Output = Result<Self>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
        async move { write_new::<Self, E>(e, &new, Self::META.sql.upsert, Touches::AnyRow).await }
    }

    /// Deletes the row: sets `deleted_at` when the model has `soft_delete`,
    /// removes it otherwise. `Error::NotFound` if there is no visible row.
    fn delete<E: Executor + ?Sized>(
        e: &E,
        key: Self::Key,
    ) -> impl Future<Output = Result<()>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
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
        Self: SoftDelete + RunsOn<E::Scope>,
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
            let scope = Scope::checked::<Self, E>(e).await?;
            let params = by_key(&key, scope);
            write_row(
                e,
                scope,
                Self::META.sql.restore,
                params.get(),
                Touches::Row(&key),
            )
            .await?
            .ok_or_else(|| not_found(Self::META))
        })
    }

    /// Removes the row for good, soft-deleted or not. `Error::NotFound` if
    /// no row has this key.
    fn hard_delete<E: Executor + ?Sized>(
        e: &E,
        key: Self::Key,
    ) -> impl Future<Output = Result<()>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
        async move { write_key::<Self, E>(e, Self::META.sql.hard_delete, &key).await }
    }

    /// Whether a visible row has this key.
    fn exists<E: Executor + ?Sized>(
        e: &E,
        key: Self::Key,
    ) -> impl Future<Output = Result<bool>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
        async move {
            let scope = Scope::checked::<Self, E>(e).await?;
            let params = by_key(&key, scope);
            let sql = Self::META.sql.exists;
            let row = run_query_opt(e, sql, params.get(), OpKind::Read, scope.around()).await?;
            Ok(row.is_some_and(|r| r.get::<_, bool>(0)))
        }
    }

    /// Number of visible rows.
    fn count<E: Executor + ?Sized>(e: &E) -> impl Future<Output = Result<u64>> + Send
    where
        Self: RunsOn<E::Scope>,
    {
        async move {
            let scope = Scope::checked::<Self, E>(e).await?;
            let params = scope.push(Vec::new());
            let row = run_query_opt(
                e,
                Self::META.sql.count,
                &params,
                OpKind::Read,
                scope.around(),
            )
            .await?;
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
