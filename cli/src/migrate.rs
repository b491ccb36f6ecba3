//! `strata migrate add|run|revert|list|redo|verify`, named as sqlx-cli
//! names them (the earlier `new`, `up`, `down` and `status` still work).
//!
//! Progress: one line per migration when it ends, and while one runs
//! longer than `--progress` seconds, a "still applying" line each time
//! that passes, so a long `CREATE INDEX` is not mistaken for a hang.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Subcommand;
use strata::migrate::{Direction, Migrator, Starting, Step};

use crate::Failure;
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub(crate) enum Action {
    /// Create `<dir>/<now>_<name>/` with empty up.sql and down.sql.
    #[command(visible_alias = "new")]
    Add {
        /// Lowercase letters, digits and `_`, e.g. `add_users_email_index`.
        name: String,
    },
    /// Apply pending migrations (all, or up to a version).
    #[command(visible_alias = "up")]
    Run {
        /// Stop after this version.
        #[arg(long)]
        to: Option<i64>,
        #[command(flatten)]
        run: RunOptions,
    },
    /// Revert the latest migration, or every one above a version.
    #[command(visible_alias = "down")]
    Revert {
        /// Revert down to (not including) this version; 0 reverts all.
        #[arg(long)]
        to: Option<i64>,
        #[command(flatten)]
        run: RunOptions,
    },
    /// List migrations: applied, pending, changed or missing (exits 1 if
    /// an applied one changed or is missing).
    #[command(visible_aliases = ["status", "info"])]
    List,
    /// Revert the latest migration and apply it again.
    Redo {
        #[command(flatten)]
        run: RunOptions,
    },
    /// Check that applied migrations match the files (checksums, none missing).
    Verify,
}

/// Options of the commands that run migrations.
#[derive(Debug, clap::Args)]
pub(crate) struct RunOptions {
    /// Print what would run, under the migration lock, and run nothing.
    #[arg(long)]
    dry_run: bool,
    /// While a migration runs, say so every this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    progress: u64,
}

/// Where the migrations and their history are.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) dir: PathBuf,
    pub(crate) history_schema: Option<String>,
}

impl Source {
    /// `dir`, with the history in the connection's current schema.
    pub(crate) fn new(dir: PathBuf) -> Source {
        Source {
            dir,
            history_schema: None,
        }
    }
}

/// The migrations of `source`.
pub(crate) fn migrator(source: &Source) -> strata::Result<Migrator> {
    let migrator = Migrator::from_dir(&source.dir)?;
    Ok(match &source.history_schema {
        Some(schema) => migrator.schema(schema.clone()),
        None => migrator,
    })
}

/// Applies every pending migration of `migrator`, with progress.
pub(crate) async fn up_all(settings: &Settings, migrator: &Migrator) -> Result<(), Failure> {
    let options = RunOptions {
        dry_run: false,
        progress: 10,
    };
    let db = settings.connect().await?;
    let steps = with_progress(
        migrator.clone(),
        &options,
        |m| async move { m.up(&db).await },
    )
    .await?;
    done(&steps, false);
    Ok(())
}

/// The migration running now, and since when.
type Running = Arc<Mutex<Option<(String, Instant)>>>;

/// Runs `f` on `migrator` with the progress output of `options`.
async fn with_progress<F, Fut>(
    migrator: Migrator,
    options: &RunOptions,
    f: F,
) -> strata::Result<Vec<Step>>
where
    F: FnOnce(Migrator) -> Fut,
    Fut: Future<Output = strata::Result<Vec<Step>>>,
{
    let dry_run = options.dry_run;
    let running: Running = Arc::default();
    let migrator = migrator
        .dry_run(dry_run)
        .on_start({
            let running = running.clone();
            move |s: &Starting| {
                let verb = match s.direction {
                    Direction::Up => "applying",
                    Direction::Down => "reverting",
                };
                if let Ok(mut r) = running.lock() {
                    *r = Some((format!("{verb} {} {}", s.version, s.name), Instant::now()));
                }
            }
        })
        .on_step({
            let running = running.clone();
            move |step| {
                if let Ok(mut r) = running.lock() {
                    *r = None;
                }
                print_step(step, dry_run);
            }
        });
    let every = Duration::from_secs(options.progress.max(1));
    let ticker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Ok(r) = running.lock()
                && let Some((what, since)) = r.as_ref()
                && since.elapsed() >= every
            {
                println!("  still {what} ({} s)", since.elapsed().as_secs());
            }
        }
    });
    let result = f(migrator).await;
    ticker.abort();
    result
}

fn print_step(step: &Step, dry_run: bool) {
    let line = match (step.direction, dry_run) {
        (Direction::Up, false) => "applied ",
        (Direction::Down, false) => "reverted",
        (Direction::Up, true) => "would apply ",
        (Direction::Down, true) => "would revert",
    };
    if dry_run {
        println!("{line} {} {}", step.version, step.name);
    } else {
        println!(
            "{line} {} {} ({} ms)",
            step.version,
            step.name,
            step.elapsed.as_millis()
        );
    }
}

/// The closing line.
fn done(steps: &[Step], dry_run: bool) {
    if steps.is_empty() {
        println!("nothing to do");
    } else if dry_run {
        println!("dry run: nothing was changed");
    }
}

pub(crate) async fn run(
    settings: strata::Result<Settings>,
    source: &Source,
    action: Action,
) -> Result<(), Failure> {
    if let Action::Add { name } = &action {
        let path = Migrator::create(&source.dir, name)?;
        println!("created {}", path.display());
        return Ok(());
    }
    let migrator = migrator(source)?;
    let db = settings?.connect().await?;
    let (options, steps) = match action {
        Action::Run { to, run } => {
            let steps = with_progress(migrator, &run, |m| async move {
                match to {
                    None => m.up(&db).await,
                    Some(v) => m.up_to(&db, v).await,
                }
            })
            .await?;
            (run, steps)
        }
        Action::Revert { to, run } => {
            let steps = with_progress(migrator, &run, |m| async move {
                match to {
                    None => m.down(&db).await,
                    Some(v) => m.down_to(&db, v).await,
                }
            })
            .await?;
            (run, steps)
        }
        Action::Redo { run } => {
            let steps = with_progress(migrator, &run, |m| async move { m.redo(&db).await }).await?;
            (run, steps)
        }
        Action::Verify => {
            migrator.verify(&db).await?;
            println!("ok: {} migrations verified", migrator.migrations().len());
            return Ok(());
        }
        Action::List => {
            for s in migrator.status(&db).await? {
                let when = s.applied_at.map(|t| t.to_string()).unwrap_or_default();
                println!("{:<16} {:<8} {:<32} {when}", s.version, s.state, s.name);
            }
            // A changed or missing applied migration fails `list` as it
            // fails `run` and `verify`: a script (or CI) that checks the
            // list must not read drift as success.
            return Ok(migrator.verify(&db).await?);
        }
        Action::Add { .. } => unreachable!("handled above"),
    };
    done(&steps, options.dry_run);
    Ok(())
}
