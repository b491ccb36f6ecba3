//! The audit log: who changed which row, how, from what to what, recorded
//! by the server in the writing transaction.
//!
//! A row trigger (`AFTER INSERT OR UPDATE OR DELETE .. FOR EACH ROW`) on an
//! audited table writes one `strata_audit` record per changed row: the
//! table, the key, the operation (`insert`, `update`, `delete`, and
//! `soft_delete`/`restore` for a model's soft-delete column), the row
//! before and after as JSON (excluded fields left out, redacted ones
//! masked), the transaction id, the time, the actor and the tenant.
//!
//! Why a trigger and not statements the client adds: the guarantee then
//! holds by construction. Every path that changes a row is audited — every
//! model operation, bulk updates and deletes, `COPY`, raw SQL — in the same
//! transaction, so a rollback leaves no record and a commit always has one;
//! a bulk statement costs no extra round trip; and `before` is the version
//! the statement replaced under its row lock, so each record's `before` is
//! the previous record's `after` however many writers race.
//!
//! The actor comes from [`with_actor`], a task-local, and reaches the
//! server as `set_config('strata.actor', .., true)` in the `BEGIN` batch of
//! every transaction begun inside it.

mod read;
mod sql;

pub use crate::config::audit::WithoutActor;
pub use crate::error::NO_ACTOR_SQLSTATE;
pub use crate::model::AuditMeta;
pub use crate::tx::actor::{current_actor, with_actor};
pub use read::AuditRecord;
pub use sql::{ACTOR_SETTING, REDACTED, TABLE, install_statements};

use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::model::Model;
use crate::pool::Db;

/// The CREATE OR REPLACE TRIGGER that audits `M`'s table, for a migration
/// (after [`install_statements`]). `Error::InvalidInput` if `M` is not
/// `#[model(audit)]`.
pub fn trigger_sql<M: Model>() -> Result<String> {
    let meta = M::META;
    match &meta.audit {
        Some(audit) => Ok(sql::trigger_statement(meta, audit)),
        None => Err(Error::InvalidInput {
            reason: format!(
                "{} is not audited: add #[model(audit)] to the struct",
                meta.name
            ),
        }),
    }
}

impl Db {
    /// Installs the audit table and function (if missing) and `M`'s trigger,
    /// in one transaction. Idempotent.
    pub async fn install_audit<M: Model>(&self) -> Result<()> {
        let mut statements = install_statements();
        statements.push(trigger_sql::<M>()?);
        self.install_locked("strata_audit", statements).await
    }

    /// Stops auditing `M`'s table (drops its trigger; the records stay).
    pub async fn uninstall_audit<M: Model>(&self) -> Result<()> {
        self.execute(&sql::drop_trigger_statement(M::META), &[])
            .await
            .map(drop)
    }

    /// Whether `M`'s writes are audited: the audit table is on the
    /// `search_path` and `M`'s table has the trigger. For start-up, so a
    /// missing table or trigger is an `Error::Config` that says what to run,
    /// not writes that went unrecorded.
    pub async fn check_audit<M: Model>(&self) -> Result<()> {
        let meta = M::META;
        let row = self
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL, EXISTS (SELECT 1 FROM pg_trigger \
                 WHERE tgrelid = to_regclass($2) AND tgname = 'strata_audit' AND tgenabled <> 'D')",
                &[&TABLE, &meta.qualified],
            )
            .await?;
        let (table, trigger): (bool, bool) = (row.get(0), row.get(1));
        let reason = match (table, trigger) {
            (true, true) => return Ok(()),
            (false, _) => format!(
                "the audit table `{TABLE}` is missing: run `db.install_audit::<{}>()` or strata::audit::install_statements() in a migration",
                meta.name
            ),
            (true, false) => format!(
                "{} has no enabled audit trigger, so its writes are not recorded: run `db.install_audit::<{}>()` or strata::audit::trigger_sql in a migration",
                meta.qualified, meta.name
            ),
        };
        Err(Error::Config {
            var: "audit",
            reason,
        })
    }
}
