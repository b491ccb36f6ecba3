//! Multi-tenancy, enforced by the type system and by row-level security.
//!
//! A model declared `#[model(tenant = dealership_id)]` is a *tenant model*:
//! its operations compile only on a handle scoped to one tenant,
//! [`TenantDb`] (from [`Db::tenant`]) or the [`TenantTx`] of its
//! transactions. This is the pipeline's **scope** stage: every statement of
//! a tenant model carries `AND "dealership_id" = $n` (inserts set the
//! column), with the tenant bound as the statement's last parameter, and
//! cache keys carry the tenant. `NewDeal` and `DealPatch` have no tenant
//! field, so no write can move a row to another tenant.
//!
//! The second layer is PostgreSQL's row-level security (`#[model(rls)]`,
//! [`rls_policy_sql`]): every statement of an RLS model on a tenant handle
//! runs inside a transaction that first sets `app.tenant_id` with
//! `set_config(.., true)`, so the setting ends with the transaction and no
//! pooled connection carries it to the next borrower.
//!
//! Why types, not a runtime check: a forgotten scope is then a compile
//! error at the call, where the fix is obvious, instead of a leak found in
//! production. The escape hatch for system jobs, [`Db::all_tenants`], is a
//! method whose name is easy to grep for, runs only the query builder, and
//! logs each use.

mod handle;
mod key;

pub use crate::model::tenancy::citus::{TenancyProblem, check_statements};
pub use crate::model::tenancy::rls::{TENANT_SETTING, rls_policy_sql};
pub use handle::{AllTenants, TenantDb, TenantTx};
pub use key::TenantKey;

pub(crate) use handle::TenantParam;

#[cfg(doc)]
use crate::pool::Db;

/// The scope of a handle that is not tenant-scoped: [`Db`] and `Tx`.
#[derive(Debug, Clone, Copy)]
pub struct Unscoped;

/// The scope of a handle scoped to one tenant whose key type is `T`.
#[derive(Debug, Clone, Copy)]
pub struct Scoped<T>(std::marker::PhantomData<T>);

/// The scope of [`Db::all_tenants`]: every tenant's rows, for system jobs.
#[derive(Debug, Clone, Copy)]
pub struct EveryTenant;

/// Whether a model's by-key operations and inserts run on a handle of
/// scope `S`. The derive implements it: for every scope on a model without
/// a tenant, and only for `Scoped<T>` of the tenant column's type `T` on a
/// tenant model.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a tenant model, so its operations need a handle scoped to one tenant, not `{S}`",
    label = "needs a tenant-scoped handle",
    note = "scope the handle first: `let db = db.tenant(dealership_id);` then `{Self}::get(&db, id)`; inside its transactions the `TenantTx` is scoped too",
    note = "a system job that must see every tenant's rows uses `db.all_tenants()`, which runs the query builder only"
)]
pub trait RunsOn<S> {}

/// Whether a model's query builder (`M::query()..all(&e)`, bulk update and
/// delete, cached lists) runs on a handle of scope `S`: like [`RunsOn`],
/// and on a tenant model also for [`EveryTenant`] ([`Db::all_tenants`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a tenant model, so its queries need a handle scoped to one tenant, not `{S}`",
    label = "needs a tenant-scoped handle",
    note = "scope the handle first: `let db = db.tenant(dealership_id);` then `{Self}::query()...all(&db)`",
    note = "a system job that must see every tenant's rows uses `db.all_tenants()`"
)]
pub trait ListsOn<S> {}

/// What a model knows about its tenant column, fixed at compile time.
#[derive(Debug, Clone, Copy)]
pub struct TenantMeta {
    /// The tenant column (unquoted).
    pub column: &'static str,
    /// `#[model(rls)]`: the table has a row-level security policy on the
    /// tenant, and statements on a tenant handle set `app.tenant_id`.
    pub rls: bool,
    /// The tenant column's SQL type, for the policy's cast.
    pub sql_type: &'static str,
}
