//! Installing strata's own tables and functions (the audit log, the
//! sessions table): idempotent DDL, in one transaction, under an advisory
//! lock named for what is installed. Two installers at once would
//! otherwise collide on the catalog (`CREATE .. IF NOT EXISTS` of one
//! table still fails on its unique index; `CREATE OR REPLACE` of one
//! function fails with "tuple concurrently updated").

use std::sync::Arc;

use super::TxOptions;
use crate::error::Result;
use crate::executor::Executor;
use crate::pool::Db;

impl Db {
    /// Runs `statements` in one transaction holding the advisory lock
    /// `hashtext(lock)`.
    pub(crate) async fn install_locked(
        &self,
        lock: &'static str,
        statements: Vec<String>,
    ) -> Result<()> {
        let statements = Arc::new(statements);
        self.transaction(TxOptions::default(), move |tx| {
            let statements = statements.clone();
            async move {
                tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock])
                    .await?;
                for s in statements.iter() {
                    tx.execute(s, &[]).await?;
                }
                Ok(())
            }
        })
        .await
    }
}
