//! The scoped handles: [`TenantDb`] (autocommit), [`TenantTx`] (its
//! transactions and savepoints) and [`AllTenants`] (the system jobs' escape
//! hatch). Each delegates the pipeline's questions to the `Db` or `Tx` it
//! wraps, and answers one more: which tenant its statements are scoped to.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::types::ToSql;

use super::key::Tenant;
use super::{EveryTenant, Scoped, TenantKey};
use crate::cache::{Invalidation, WriteGuard};
use crate::error::Result;
use crate::executor::Executor;
use crate::executor::handle::Handle;
use crate::pipeline::conn::Conn;
use crate::pool::Db;
use crate::tx::{Tx, TxOptions};

/// A tenant value behind a scoped handle, whatever its type: what the
/// model layer binds and the pipeline sets.
#[allow(unreachable_pub, missing_docs)]
pub trait TenantParam: Send + Sync {
    /// The value, bound as a statement's last parameter.
    fn param(&self) -> &(dyn ToSql + Sync);
    /// Its text, for cache keys.
    fn text(&self) -> &str;
    /// `; SELECT set_config('app.tenant_id', .., true)`, to follow a `BEGIN`.
    fn set_local(&self) -> &str;
    /// The value as the query builder binds it.
    fn sea_value(&self) -> sea_query::Value;
}

impl<T: TenantKey> TenantParam for Tenant<T> {
    fn param(&self) -> &(dyn ToSql + Sync) {
        &self.value
    }
    fn text(&self) -> &str {
        &self.text
    }
    fn set_local(&self) -> &str {
        &self.set_local
    }
    fn sea_value(&self) -> sea_query::Value {
        Tenant::sea_value(self)
    }
}

/// A handle scoped to one tenant: the only handle (with its
/// [`TenantTx`]) a tenant model's operations compile on. Cheap to clone.
///
/// ```no_run
/// # use strata::prelude::*;
/// # #[derive(Model, Debug, Clone)]
/// # #[model(tenant = dealership_id)]
/// # struct Deal { id: i64, dealership_id: i64, title: String }
/// # async fn f(db: Db) -> strata::Result<()> {
/// let scoped = db.tenant(42_i64);
/// let deal = Deal::get(&scoped, 7).await?; // `.. AND "dealership_id" = 42`
/// # Ok(()) }
/// ```
///
/// Raw SQL on it runs like on [`Db`], inside a transaction that sets
/// `app.tenant_id` first, so row-level security policies apply to it.
#[derive(Clone)]
pub struct TenantDb<T: TenantKey> {
    db: Db,
    tenant: Arc<Tenant<T>>,
}

impl<T: TenantKey> std::fmt::Debug for TenantDb<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantDb")
            .field("tenant", &self.tenant.value)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// A handle scoped to tenant `id`: every statement of a tenant model on
    /// it filters on `id` and inserts set it (see [`crate::tenant`]).
    pub fn tenant<T: TenantKey>(&self, id: T) -> TenantDb<T> {
        TenantDb {
            db: self.clone(),
            tenant: Arc::new(Tenant::new(id)),
        }
    }

    /// The escape hatch for system jobs: a handle on which a tenant model's
    /// query builder sees every tenant's rows (by-key operations and
    /// inserts still need [`Db::tenant`]). Each call is logged at `WARN`
    /// with the caller's location, and the name is easy to grep for.
    #[track_caller]
    pub fn all_tenants(&self) -> AllTenants {
        let at = std::panic::Location::caller();
        tracing::warn!(target: "strata::tenant", location = %at, "all_tenants: a query across every tenant");
        AllTenants { db: self.clone() }
    }
}

impl<T: TenantKey> TenantDb<T> {
    /// The tenant this handle is scoped to.
    pub fn id(&self) -> &T {
        &self.tenant.value
    }

    /// [`Db::transaction`], scoped: the closure gets a [`TenantTx`], and
    /// the transaction sets `app.tenant_id` (`set_config(.., true)`) right
    /// after `BEGIN`, in the same round trip, so row-level security applies
    /// to everything in it and ends with it.
    #[track_caller]
    pub fn transaction<R, F, Fut>(
        &self,
        opts: TxOptions,
        mut f: F,
    ) -> impl Future<Output = Result<R>> + use<'_, T, R, F, Fut>
    where
        F: FnMut(TenantTx<T>) -> Fut,
        Fut: Future<Output = Result<R>>,
    {
        let tenant = self.tenant.clone();
        let begin = format!("{}{}", opts.begin_sql(), tenant.set_local);
        self.db.transaction_with(opts, begin, move |tx| {
            f(TenantTx {
                tx,
                tenant: tenant.clone(),
            })
        })
    }
}

/// A transaction (or savepoint) of a [`TenantDb`]: scoped to its tenant
/// like the handle it came from. Cheap to clone.
#[derive(Clone)]
pub struct TenantTx<T: TenantKey> {
    tx: Tx,
    tenant: Arc<Tenant<T>>,
}

impl<T: TenantKey> std::fmt::Debug for TenantTx<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTx")
            .field("tenant", &self.tenant.value)
            .field("depth", &self.tx.depth())
            .finish()
    }
}

impl<T: TenantKey> TenantTx<T> {
    /// The tenant this transaction is scoped to.
    pub fn id(&self) -> &T {
        &self.tenant.value
    }

    /// [`Tx::savepoint`], scoped.
    pub async fn savepoint<R, F, Fut>(&self, f: F) -> Result<R>
    where
        F: FnOnce(TenantTx<T>) -> Fut,
        Fut: Future<Output = Result<R>>,
    {
        let tenant = self.tenant.clone();
        self.tx
            .savepoint(move |tx| f(TenantTx { tx, tenant }))
            .await
    }
}

/// The handle [`Db::all_tenants`] returns: a tenant model's query builder
/// on it sees every tenant. By-key operations and inserts of a tenant
/// model do not compile on it.
#[derive(Clone, Debug)]
pub struct AllTenants {
    db: Db,
}

impl<T: TenantKey> Executor for TenantDb<T> {
    type Scope = Scoped<T>;
}
impl<T: TenantKey> Executor for TenantTx<T> {
    type Scope = Scoped<T>;
}
impl Executor for AllTenants {
    type Scope = EveryTenant;
}

/// Every `Handle` method but the tenant's, answered by `$inner`.
macro_rules! delegate_handle {
    ($inner:ident) => {
        fn __conn(
            &self,
            kind: crate::executor::OpKind,
        ) -> impl Future<Output = Result<Conn<'_>>> + Send {
            self.$inner.__conn(kind)
        }
        fn __db(&self) -> &Db {
            self.$inner.__db()
        }
        fn __statement_bound(&self) -> Option<Duration> {
            self.$inner.__statement_bound()
        }
        fn __poison(&self) {
            self.$inner.__poison()
        }
        fn __in_tx(&self) -> bool {
            self.$inner.__in_tx()
        }
        fn __check_session_at_end(&self) {
            self.$inner.__check_session_at_end()
        }
        fn __invalidate(&self, inv: Invalidation) -> impl Future<Output = ()> + Send {
            self.$inner.__invalidate(inv)
        }
        fn __write_guard(&self, inv: Invalidation) -> Option<WriteGuard> {
            self.$inner.__write_guard(inv)
        }
    };
}

impl<T: TenantKey> Handle for TenantDb<T> {
    delegate_handle!(db);
    fn __tenant(&self) -> Option<&dyn TenantParam> {
        Some(&*self.tenant)
    }
}

impl<T: TenantKey> Handle for TenantTx<T> {
    delegate_handle!(tx);
    fn __tenant(&self) -> Option<&dyn TenantParam> {
        Some(&*self.tenant)
    }
    fn __tenant_set(&self) -> bool {
        // Set once, right after BEGIN.
        true
    }
}

impl Handle for AllTenants {
    delegate_handle!(db);
}
