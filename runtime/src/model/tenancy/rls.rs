//! Row-level security, tenancy's second layer: the policy a migration
//! installs, and the checks that refuse a setup in which the policy would
//! not hold (a superuser or `BYPASSRLS` role, a table without
//! `FORCE ROW LEVEL SECURITY` or without a policy).
//!
//! The policy reads `current_setting('app.tenant_id', true)` through
//! `NULLIF(.., '')`: after a transaction that set it ends, the setting
//! reads `''`, not NULL, and a plain cast of `''` to a number is an error.
//! With `NULLIF` an unset tenant compares as NULL and matches no row.

use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::tenant::TenantMeta;

use crate::model::{Model, ModelMeta};
use crate::pool::Db;

/// The setting a tenant-scoped transaction sets (`set_config(.., true)`)
/// and the policy reads.
pub const TENANT_SETTING: &str = "app.tenant_id";

/// The SQL that puts `M`'s table under row-level security on its tenant
/// column, one statement per line, for a migration's `up.sql`:
/// `ENABLE` and `FORCE ROW LEVEL SECURITY` (without `FORCE` the table's
/// owner bypasses the policy) and a policy `strata_tenant` for every
/// command, whose `WITH CHECK` also stops a write into another tenant.
///
/// `None` for a model without a tenant.
pub fn rls_policy_sql<M: Model>() -> Option<String> {
    let meta = M::META;
    let tenant = meta.tenant.as_ref()?;
    let t = meta.qualified;
    let col = crate::sql::ident::quote(tenant.column);
    let term = format!(
        "{col} = NULLIF(current_setting('{TENANT_SETTING}', true), '')::{}",
        tenant.sql_type
    );
    Some(format!(
        "ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;\n\
         ALTER TABLE {t} FORCE ROW LEVEL SECURITY;\n\
         DROP POLICY IF EXISTS strata_tenant ON {t};\n\
         CREATE POLICY strata_tenant ON {t} USING ({term}) WITH CHECK ({term});\n"
    ))
}

/// Refuses a connection role or a table on which `M`'s policy would not
/// hold. Run by [`Db::check_tenancy`], and once per model and `Db` before
/// the first statement of an RLS model on a tenant handle.
pub(crate) async fn check(db: &Db, meta: &ModelMeta, tenant: &TenantMeta) -> Result<()> {
    let row = db
        .query_read_opt(
            "SELECT r.rolname::text, r.rolsuper, r.rolbypassrls, c.relrowsecurity, \
                    c.relforcerowsecurity, \
                    EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) \
             FROM pg_roles r, pg_class c \
             WHERE r.rolname = current_user AND c.oid = to_regclass($1)",
            &[&meta.qualified],
        )
        .await?;
    let Some(row) = row else {
        return Err(refused(format!(
            "model {} declares `rls`, but its table {} does not exist",
            meta.name, meta.qualified
        )));
    };
    let (role, superuser, bypass): (String, bool, bool) = (row.get(0), row.get(1), row.get(2));
    let (enabled, forced, policy): (bool, bool, bool) = (row.get(3), row.get(4), row.get(5));
    let table = meta.qualified;
    let _ = tenant;
    if superuser {
        return Err(refused(format!(
            "model {} declares `rls`, but the role `{role}` is a superuser, which row-level security never applies to; connect as a role created with NOSUPERUSER NOBYPASSRLS",
            meta.name
        )));
    }
    if bypass {
        return Err(refused(format!(
            "model {} declares `rls`, but the role `{role}` has BYPASSRLS; run `ALTER ROLE {role} NOBYPASSRLS` or connect as another role",
            meta.name
        )));
    }
    if !enabled || !forced || !policy {
        let missing = if !enabled {
            "row-level security is not enabled"
        } else if !forced {
            "row-level security is not forced, so the table's owner bypasses it"
        } else {
            "it has no policy"
        };
        return Err(refused(format!(
            "model {} declares `rls`, but on table {table} {missing}; apply `strata::tenant::rls_policy_sql::<{}>()` in a migration (ENABLE and FORCE ROW LEVEL SECURITY, and the policy)",
            meta.name, meta.name
        )));
    }
    Ok(())
}

fn refused(reason: String) -> Error {
    Error::Config { var: "rls", reason }
}

/// The lazy form of [`check`]: once per model and `Db`, before the first
/// statement of an RLS model on a tenant handle.
pub(crate) async fn ensure<M: Model, E: Executor + ?Sized>(e: &E) -> Result<()> {
    let Some(tenant) = M::META.tenant.as_ref().filter(|t| t.rls) else {
        return Ok(());
    };
    let db = e.__db();
    let table = M::META.qualified;
    let checked = |set: &std::collections::HashSet<&'static str>| set.contains(table);
    if db
        .inner
        .rls_checked
        .lock()
        .map(|s| checked(&s))
        .unwrap_or(false)
    {
        return Ok(());
    }
    check(db, M::META, tenant).await?;
    if let Ok(mut set) = db.inner.rls_checked.lock() {
        set.insert(table);
    }
    Ok(())
}
