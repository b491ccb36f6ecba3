//! The tenancy case (issue 17): a tenant-scoped `find` on `bench_accounts`
//! (`.. AND "tenant_id" = $2`, the tenant from `db.tenant(..)`) against the
//! same `find` of the plain [`Account`](crate::derived::Account) model, in
//! the same rounds. Row `g` of the seed belongs to tenant `g % TENANTS`.

use chrono::{DateTime, Utc};
use strata::prelude::*;

use crate::harness::{BoxFut, Contender, Op, OpResult, TENANTS, account_id};

/// `bench_accounts` as a tenant model.
#[derive(Model, Debug, Clone, PartialEq)]
#[model(schema = "strata_bench", table = "bench_accounts", tenant = tenant_id, soft_delete)]
pub(crate) struct TenantAccount {
    #[model(primary_key, generated)]
    pub(crate) id: i64,
    pub(crate) tenant_id: i32,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) age: i32,
    #[model(generated)]
    pub(crate) created_at: DateTime<Utc>,
    #[model(deleted_at)]
    pub(crate) deleted_at: Option<DateTime<Utc>>,
}

/// strata with a tenant-scoped handle per operation, as a request handler
/// would make one.
pub(crate) struct Scoped {
    pub(crate) db: Db,
}

impl Contender for Scoped {
    fn name(&self) -> &str {
        "strata tenant"
    }

    fn supports(&self, op: Op) -> bool {
        op == Op::AccountFind
    }

    fn run(&self, op: Op, arg: u64) -> BoxFut<'_, OpResult> {
        Box::pin(async move {
            debug_assert_eq!(op, Op::AccountFind);
            let id = account_id(arg);
            let tenant = i32::try_from(id.unsigned_abs() % TENANTS).unwrap_or(0);
            let found = TenantAccount::find(&self.db.tenant(tenant), id).await?;
            if found.as_ref().is_some_and(|a| a.tenant_id != tenant) {
                return Err("a tenant-scoped find returned another tenant's row".into());
            }
            Ok(())
        })
    }
}
