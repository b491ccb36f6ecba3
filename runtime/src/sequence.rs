//! Gap-free counters for business numbers (deal numbers, invoice numbers,
//! stock numbers), one per name and per tenant, taken inside a transaction.
//!
//! `next` is one statement, an upsert that increments the counter's row:
//! `INSERT .. ON CONFLICT (scope, name) DO UPDATE SET value = value + 1
//! RETURNING value`. The row stays locked until the transaction ends, so a
//! concurrent caller waits and then sees the committed value (no
//! duplicate), and a rollback undoes the increment (no gap). A failed
//! serializable attempt rolls back too, so the whole-closure retry takes the
//! same number again.
//!
//! Why not a PostgreSQL `SEQUENCE`: `nextval` never rolls back, so every
//! aborted transaction and every serialization retry leaves a gap, which
//! invoices and deal numbers must not have. The price is that callers of one
//! counter serialize on its row until they commit: keep the transaction that
//! takes a number short, or use a `SEQUENCE` where gaps are acceptable.
//!
//! Why only on a transaction handle: on a pooled `Db` the number would be
//! committed before the row it numbers is written, and a failure in between
//! would leave a gap. [`InTransaction`] is implemented for [`Tx`] and
//! [`TenantTx`] only, so `seq.next(&db)` does not compile.

use std::future::Future;

use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::executor::handle::Handle;
use crate::tenant::{TenantKey, TenantTx};
use crate::tx::Tx;

/// The counters' table, unqualified: it is found on the connection's
/// `search_path`, so each schema (or test schema) has its own counters.
pub const TABLE: &str = "strata_sequences";

/// The `CREATE TABLE` for the counters, for a migration (or
/// [`crate::Db::install_sequences`]).
pub fn install_sql() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (\n    \
         scope text NOT NULL,\n    \
         name text NOT NULL,\n    \
         value bigint NOT NULL,\n    \
         PRIMARY KEY (scope, name)\n)"
    )
}

const NEXT: &str = "INSERT INTO strata_sequences AS s (scope, name, value) VALUES ($1, $2, 1) \
     ON CONFLICT (scope, name) DO UPDATE SET value = s.value + 1 RETURNING s.value";

const CURRENT: &str = "SELECT value FROM strata_sequences WHERE scope = $1 AND name = $2";

mod sealed {
    pub trait Sealed {}
}

/// A handle inside a transaction: [`Tx`] (one counter for the whole
/// database) or [`TenantTx`] (one counter per tenant). Sealed.
#[diagnostic::on_unimplemented(
    message = "a sequence number is taken inside a transaction, not on `{Self}`",
    label = "not a transaction handle",
    note = "take it inside `db.transaction(TxOptions::default(), |tx| async move {{ SEQ.next(&tx).await }})` (or a tenant's transaction), so a failure after it rolls the number back and leaves no gap"
)]
pub trait InTransaction: Executor + sealed::Sealed {
    /// The counter's scope: `""` for a `Tx`, the tenant's text for a
    /// `TenantTx`.
    #[doc(hidden)]
    fn sequence_scope(&self) -> &str;
}

impl sealed::Sealed for Tx {}
impl InTransaction for Tx {
    fn sequence_scope(&self) -> &str {
        ""
    }
}

impl<T: TenantKey> sealed::Sealed for TenantTx<T> {}
impl<T: TenantKey> InTransaction for TenantTx<T> {
    fn sequence_scope(&self) -> &str {
        self.__tenant().map_or("", |t| t.text())
    }
}

/// A named gap-free counter. Cheap to copy; declare one as a `const`.
///
/// ```no_run
/// # use strata::prelude::*;
/// use strata::sequence::Sequence;
///
/// const DEAL_NUMBERS: Sequence = Sequence::new("deal_number");
///
/// # async fn f(db: Db) -> strata::Result<()> {
/// let number = db
///     .tenant(42_i64)
///     .transaction(TxOptions::default(), |tx| async move {
///         let n = DEAL_NUMBERS.next(&tx).await?; // 1, 2, 3, .. per dealership
///         // .. insert the deal numbered `n` on `tx` ..
///         Ok(n)
///     })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequence {
    name: &'static str,
}

impl Sequence {
    /// The counter called `name` (1 to 63 bytes).
    pub const fn new(name: &'static str) -> Self {
        Sequence { name }
    }

    /// The counter's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn checked(&self) -> Result<&'static str> {
        if self.name.is_empty() || self.name.len() > 63 || self.name.contains('\0') {
            return Err(Error::InvalidInput {
                reason: format!(
                    "sequence name {:?}: a name is 1 to 63 bytes without NUL",
                    self.name
                ),
            });
        }
        Ok(self.name)
    }

    /// The next number, starting at 1: one statement that holds the
    /// counter's row until `tx` ends. Rolled back with `tx`.
    ///
    /// A missing table is `Error::Database` with SQLSTATE 42P01 (undefined
    /// table): install it with [`install_sql`] first.
    // Spelled out, not `async fn`: the signature promises `Send`, so a
    // transaction closure that takes a number works inside `tokio::spawn`.
    #[allow(clippy::manual_async_fn)]
    pub fn next<'a, E: InTransaction>(
        &'a self,
        tx: &'a E,
    ) -> impl Future<Output = Result<i64>> + Send + 'a {
        async move {
            let name = self.checked()?;
            let row = tx.query_one(NEXT, &[&tx.sequence_scope(), &name]).await?;
            Ok(row.get(0))
        }
    }

    /// The last number taken and committed (as `tx` sees it), or `None`
    /// before the first.
    #[allow(clippy::manual_async_fn)]
    pub fn current<'a, E: InTransaction>(
        &'a self,
        tx: &'a E,
    ) -> impl Future<Output = Result<Option<i64>>> + Send + 'a {
        async move {
            let name = self.checked()?;
            let row = tx
                .query_opt(CURRENT, &[&tx.sequence_scope(), &name])
                .await?;
            Ok(row.map(|r| r.get(0)))
        }
    }
}

impl crate::pool::Db {
    /// Creates the counters' table ([`install_sql`]) if it is missing.
    pub async fn install_sequences(&self) -> Result<()> {
        self.execute(&install_sql(), &[]).await.map(drop)
    }
}
