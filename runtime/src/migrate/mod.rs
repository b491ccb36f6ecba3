//! Schema migrations: versioned SQL folders, a history table with checksums,
//! and a runner that is safe to start from several processes at once.
//!
//! # Layout
//!
//! ```text
//! migrations/
//!   20240101000000_create_users/
//!     up.sql      applies the change
//!     down.sql    reverts it
//! ```
//!
//! The version is the folder name's numeric prefix, a sortable timestamp;
//! [`Migrator::create`] makes a new folder named for the current time. The
//! set is read from disk ([`Migrator::from_dir`]) or compiled into the binary
//! with [`embed_migrations!`](crate::embed_migrations) ([`Migrator::embedded`]),
//! so a deployed service can migrate itself.
//!
//! # History
//!
//! Applied migrations are recorded in `strata_migrations` (see
//! [`Migrator::table`]) in the connection's current schema, or the one
//! [`Migrator::schema`] names: version, name,
//! SHA-256 of `up.sql`, when, and how long it took. An applied migration
//! whose `up.sql` has changed since is reported by [`Migrator::status`] as
//! [`State::Changed`], and [`Migrator::up`] refuses to run until it is
//! resolved.
//!
//! # Two choices that are not obvious
//!
//! **Statements are split and run one by one.** Each file is cut into
//! statements by a small lexer that knows quotes, dollar quotes and comments
//! (`split.rs`), and the statements run one at a time inside the migration's
//! transaction. Sending the file whole would work, but a failure would then
//! name no line; one at a time, the error names the file and the line of
//! the failing statement (refined by PostgreSQL's error position when it
//! gives one).
//!
//! **The lock is polled, never waited for.** Concurrent migrators serialize
//! on a session-level advisory lock, taken with `pg_try_advisory_lock` in a
//! loop with backoff on a connection held for the whole run (`lock.rs`). The
//! blocking `pg_advisory_lock` would be simpler, but a migrator waiting in
//! it holds a snapshot, and `CREATE INDEX CONCURRENTLY` in the running
//! migrator waits for every such snapshot to go away: both would wait
//! forever. Between polls a waiter holds nothing.
//!
//! # Transactions
//!
//! Each migration runs in its own transaction together with its history
//! row: a failing statement rolls that migration back, earlier migrations
//! stay applied, later ones do not run. A file whose first line is
//! `-- strata:no-transaction` runs statement by statement in autocommit mode
//! instead, and its history row is written once every statement succeeded.
//! Migrations run with `statement_timeout` off.
//!
//! ```no_run
//! # async fn f(db: strata::Db) -> strata::Result<()> {
//! use strata::migrate::Migrator;
//!
//! static MIGRATIONS: &[strata::migrate::EmbeddedMigration] = strata::embed_migrations!("../migrations");
//!
//! let applied = Migrator::embedded(MIGRATIONS)?.up(&db).await?;
//! for step in applied {
//!     println!("applied {} {} in {:?}", step.version, step.name, step.elapsed);
//! }
//! # Ok(()) }
//! ```

mod drift;
mod history;
mod lock;
mod plan;
mod run;
mod source;
mod split;
mod status;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::pipeline::round_trip::Link;
use crate::pool::Db;

use history::{Applied, History};
use lock::Session;
use plan::migration_error;

pub use drift::{Drift, Mismatch, check_meta};
pub use source::{EmbeddedMigration, Migration};
pub use status::{Direction, MigrationStatus, Starting, State, Step};

type OnStep = Arc<dyn Fn(&Step) + Send + Sync>;
type OnStart = Arc<dyn Fn(&Starting) + Send + Sync>;

/// Runs a set of migrations against a database.
///
/// Every method that changes the schema takes the migration lock first (see
/// the [module docs](self)), reads the history under it, and releases it at
/// the end, so concurrent callers apply each migration exactly once.
#[derive(Clone)]
pub struct Migrator {
    migrations: Vec<Migration>,
    table: String,
    schema: Option<String>,
    lock_timeout: Option<Duration>,
    on_step: Option<OnStep>,
    on_start: Option<OnStart>,
    dry_run: bool,
}

impl fmt::Debug for Migrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migrator")
            .field("migrations", &self.migrations)
            .field("table", &self.table)
            .field("schema", &self.schema)
            .field("lock_timeout", &self.lock_timeout)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

impl Migrator {
    fn with(migrations: Vec<Migration>) -> Migrator {
        Migrator {
            migrations,
            table: history::DEFAULT_TABLE.to_owned(),
            schema: None,
            lock_timeout: None,
            on_step: None,
            on_start: None,
            dry_run: false,
        }
    }

    /// Reads every `<version>_<name>/` folder in `dir`.
    ///
    /// Returns `Error::Migration` if the folder cannot be read, a subfolder
    /// is not named `<version>_<name>` or has no `up.sql`, or two share a
    /// version.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Migrator> {
        source::load_dir(dir.as_ref()).map(Migrator::with)
    }

    /// Uses a set compiled in with [`embed_migrations!`](crate::embed_migrations).
    ///
    /// Returns `Error::Migration` if two share a version.
    pub fn embedded(set: &[EmbeddedMigration]) -> Result<Migrator> {
        source::load_embedded(set).map(Migrator::with)
    }

    /// Creates `<dir>/<now>_<name>/` with empty `up.sql` and `down.sql` and
    /// returns the new folder. The version is the current UTC time as
    /// `YYYYMMDDhhmmss`, or one past the newest existing version.
    ///
    /// Returns `Error::InvalidInput` if `name` is not lowercase letters,
    /// digits and `_`, and `Error::Migration` if the folder cannot be
    /// written.
    pub fn create(dir: impl AsRef<Path>, name: &str) -> Result<PathBuf> {
        source::create(dir.as_ref(), name)
    }

    /// The history table's name (default `strata_migrations`), created in
    /// the connection's current schema.
    #[must_use]
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The schema that holds the history table (created if missing), so
    /// the table stays out of `public` (or whatever the application's
    /// `search_path` puts first): `Migrator::from_dir("migrations")?.schema("ops")`.
    /// Default: the connection's current schema. The migrations themselves
    /// still run with the connection's `search_path`.
    #[must_use]
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }

    /// How long to wait for the migration lock before giving up with
    /// `Error::Migration` (default: as long as another migrator runs).
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = Some(timeout);
        self
    }

    /// Calls `f` after each migration that ran, for progress output.
    #[must_use]
    pub fn on_step(mut self, f: impl Fn(&Step) + Send + Sync + 'static) -> Self {
        self.on_step = Some(Arc::new(f));
        self
    }

    /// Calls `f` before each migration runs, so a long one can be shown
    /// as running (the `strata` CLI prints "still applying .." meanwhile).
    #[must_use]
    pub fn on_start(mut self, f: impl Fn(&Starting) + Send + Sync + 'static) -> Self {
        self.on_start = Some(Arc::new(f));
        self
    }

    /// With `true`, [`up`](Migrator::up), [`down`](Migrator::down),
    /// [`redo`](Migrator::redo) and their `_to` forms run nothing: they
    /// take the lock, read the history, and return (and report through
    /// [`on_step`](Migrator::on_step)) the steps they would take, each with
    /// a zero `elapsed`. The history table is not even created. The
    /// choice of steps is the real run's own code, so the plan cannot
    /// drift from what a run does.
    #[must_use]
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    /// The migrations, oldest first.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// Every migration on disk or in the history, oldest first, with its
    /// [`State`]. Takes no lock and creates nothing.
    pub async fn status(&self, db: &Db) -> Result<Vec<MigrationStatus>> {
        let conn = db.acquire().await?;
        let link = Link::new(&conn, db);
        let history = History::resolve(link, self.schema.as_deref(), &self.table).await?;
        let applied = history.load(link).await?;
        Ok(self.compare(&applied))
    }

    /// Applies every pending migration, oldest first.
    ///
    /// Returns `Error::Migration` naming the version if an applied
    /// migration's `up.sql` has changed (nothing runs then), or naming the
    /// file and line if a statement fails (that migration is rolled back;
    /// the ones before it stay applied).
    pub async fn up(&self, db: &Db) -> Result<Vec<Step>> {
        self.up_inner(db, i64::MAX).await
    }

    /// Applies pending migrations whose version is at most `version`.
    ///
    /// Errors as [`Migrator::up`].
    pub async fn up_to(&self, db: &Db, version: i64) -> Result<Vec<Step>> {
        self.up_inner(db, version).await
    }

    /// Reverts the most recently applied migration (the highest version),
    /// if there is one.
    ///
    /// Returns `Error::Migration` if its folder is missing or has no
    /// `down.sql`, or a statement of `down.sql` fails.
    pub async fn down(&self, db: &Db) -> Result<Vec<Step>> {
        self.down_inner(db, None).await
    }

    /// Reverts every applied migration whose version is above `version`,
    /// newest first. `down_to(db, 0)` reverts everything.
    ///
    /// Errors as [`Migrator::down`].
    pub async fn down_to(&self, db: &Db, version: i64) -> Result<Vec<Step>> {
        self.down_inner(db, Some(version)).await
    }

    /// Reverts the most recently applied migration and applies it again
    /// from the current files (the edit-and-retry loop while writing one).
    ///
    /// Errors as [`Migrator::down`] and [`Migrator::up`].
    pub async fn redo(&self, db: &Db) -> Result<Vec<Step>> {
        let (session, history, applied) = self.begin(db).await?;
        let result = async {
            let Some(last) = applied.last() else {
                return Ok(Vec::new());
            };
            let m = self.on_disk(last)?;
            let down = self.step(&session, &history, m, Direction::Down).await?;
            let up = self.step(&session, &history, m, Direction::Up).await?;
            Ok(vec![down, up])
        }
        .await;
        session.close().await;
        result
    }

    /// Checks that every applied migration is on disk with the checksum
    /// recorded for it.
    ///
    /// Returns `Error::Migration` naming each changed or missing version.
    pub async fn verify(&self, db: &Db) -> Result<()> {
        let status = self.status(db).await?;
        let bad: Vec<&MigrationStatus> = status
            .iter()
            .filter(|s| matches!(s.state, State::Changed | State::Missing))
            .collect();
        let Some(first) = bad.first() else {
            return Ok(());
        };
        let list: Vec<String> = bad
            .iter()
            .map(|s| format!("{}_{} is {}", s.version, s.name, s.state))
            .collect();
        Err(migration_error(
            Some(first.version),
            format!(
                "the migration history does not match the files: {}",
                list.join(", ")
            ),
        ))
    }

    async fn up_inner(&self, db: &Db, target: i64) -> Result<Vec<Step>> {
        let (session, history, applied) = self.begin(db).await?;
        let result = async {
            if let Some(s) = self
                .compare(&applied)
                .iter()
                .find(|s| s.state == State::Changed)
            {
                return Err(migration_error(
                    Some(s.version),
                    format!(
                        "migration {}_{} was changed after it was applied (its up.sql checksum \
                         differs from the history's); restore the file or revert the migration \
                         before running up",
                        s.version, s.name
                    ),
                ));
            }
            let mut steps = Vec::new();
            for m in &self.migrations {
                let done = applied.iter().any(|a| a.version == m.version());
                if done || m.version() > target {
                    continue;
                }
                steps.push(self.step(&session, &history, m, Direction::Up).await?);
            }
            Ok(steps)
        }
        .await;
        session.close().await;
        result
    }

    async fn down_inner(&self, db: &Db, target: Option<i64>) -> Result<Vec<Step>> {
        let (session, history, applied) = self.begin(db).await?;
        let result = async {
            let revert: Vec<&Applied> = match target {
                None => applied.last().into_iter().collect(),
                Some(v) => applied.iter().rev().filter(|a| a.version > v).collect(),
            };
            let mut steps = Vec::new();
            for a in revert {
                let m = self.on_disk(a)?;
                steps.push(self.step(&session, &history, m, Direction::Down).await?);
            }
            Ok(steps)
        }
        .await;
        session.close().await;
        result
    }

    async fn step(
        &self,
        session: &Session,
        history: &History,
        m: &Migration,
        direction: Direction,
    ) -> Result<Step> {
        if self.dry_run {
            let step = Step {
                version: m.version(),
                name: m.name().to_owned(),
                direction,
                elapsed: Duration::ZERO,
            };
            if let Some(f) = &self.on_step {
                f(&step);
            }
            return Ok(step);
        }
        if let Some(f) = &self.on_start {
            f(&Starting {
                version: m.version(),
                name: m.name().to_owned(),
                direction,
            });
        }
        let verb = match direction {
            Direction::Up => "MIGRATE",
            Direction::Down => "REVERT",
        };
        // Each migration's statements are `db.statement` spans inside this one.
        let span = tracing::info_span!(
            "db.migration",
            otel.name = %format_args!("{verb} {}", m.version()),
            db.system.name = "postgresql",
            db.operation.name = verb,
            db.migration.version = m.version(),
            db.migration.name = m.name(),
        );
        let step = tracing::Instrument::instrument(
            run::run(session.client(), history, m, direction),
            span,
        )
        .await?;
        tracing::info!(
            version = step.version,
            name = %step.name,
            ?direction,
            elapsed_ms = step.elapsed.as_millis(),
            "migration ran"
        );
        if let Some(f) = &self.on_step {
            f(&step);
        }
        Ok(step)
    }

    /// Opens a dedicated connection, takes the lock, makes sure the history
    /// table exists and reads it. The caller runs its work and then
    /// [`Session::close`]s; if the caller's future is dropped instead, the
    /// connection closes and the server releases the lock and rolls back.
    async fn begin(&self, db: &Db) -> Result<(Session, History, Vec<Applied>)> {
        let mut session = Session::open(db).await?;
        let history =
            History::resolve(session.client(), self.schema.as_deref(), &self.table).await?;
        session
            .lock(lock::key_for(&history.name), self.lock_timeout)
            .await?;
        if !self.dry_run {
            history.ensure(session.client()).await?;
        }
        let applied = history.load(session.client()).await?;
        Ok((session, history, applied))
    }
}
