//! What `#[strata::test]` expands to, reached through
//! `strata::__private::testing`: not public API.

use std::future::Future;

use super::{TestDb, chain, with_redis};
use crate::migrate::{EmbeddedMigration, Migrator};
use crate::pool::Db;

/// The options of one `#[strata::test]`.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// `migrations = "dir"`, embedded by `embed_migrations!`.
    pub migrations: Option<&'static [EmbeddedMigration]>,
    /// `redis`: the handle gets the Redis tier ([`with_redis`]).
    pub redis: bool,
}

/// What a `#[strata::test]` function may take: the [`TestDb`] itself, or
/// its [`Db`] (the `TestDb` is then kept until the body returns).
#[diagnostic::on_unimplemented(
    message = "a `#[strata::test]` function takes `strata::Db` or `strata::testing::TestDb`, not `{Self}`",
    label = "the database's type",
    note = "`db: Db` is the handle on the test's schema; `db: TestDb` also knows the schema's name and config"
)]
pub trait TestArg: Sized {
    /// The argument, and what must live until the body returns.
    fn from_test_db(db: TestDb) -> (Self, Option<TestDb>);
}

impl TestArg for TestDb {
    fn from_test_db(db: TestDb) -> (Self, Option<TestDb>) {
        (db, None)
    }
}

impl TestArg for Db {
    fn from_test_db(db: TestDb) -> (Self, Option<TestDb>) {
        (db.db().clone(), Some(db))
    }
}

/// Names `A` where the macro cannot call anything: the bound is checked.
pub fn check_arg<A: TestArg>() {}

/// Runs one test: a current-thread runtime, a new schema (with the
/// migrations applied), the body, then the schema's drop, which also runs
/// when the body panics.
///
/// # Panics
///
/// If the schema cannot be created or a migration fails, and when the body
/// panics.
pub fn run<A, F, Fut>(setup: Setup, body: F) -> Fut::Output
where
    A: TestArg,
    F: FnOnce(A) -> Fut,
    Fut: Future,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("strata::test: cannot build the tokio runtime: {e}"));
    rt.block_on(async move {
        let db = if setup.redis {
            TestDb::with(with_redis).await
        } else {
            TestDb::new().await
        };
        if let Some(set) = setup.migrations {
            let applied = match Migrator::embedded(set) {
                Ok(migrator) => migrator.up(db.db()).await,
                Err(e) => Err(e),
            };
            if let Err(e) = applied {
                panic!(
                    "strata::test: the migrations failed in schema {}: {}",
                    db.schema(),
                    chain(&e)
                );
            }
        }
        let (arg, keep) = A::from_test_db(db);
        let out = body(arg).await;
        drop(keep);
        out
    })
}
