//! `strata`: run migrations and check the database from a shell.
//!
//! Reads the connection from `DATABASE_URL` (and the other variables of
//! `strata::Config::from_env`). Prints one line per migration that ran;
//! on failure prints one line starting with `error:` to stderr and exits 1
//! (2 for a command-line mistake). `migrate status` prints its table, and
//! exits 1 too when an applied migration changed or is missing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use strata::migrate::{Direction, Migrator, Step};
use strata::{Config, Db, Executor};

/// Migrations and health checks for a strata database.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply, revert or inspect migrations.
    Migrate {
        /// The migrations folder.
        #[arg(long, global = true, default_value = "./migrations")]
        dir: PathBuf,
        #[command(subcommand)]
        action: Migrate,
    },
    /// Connect, run `SELECT 1`, and print the round-trip time.
    Health,
}

#[derive(Debug, Subcommand)]
enum Migrate {
    /// Apply pending migrations (all, or up to a version).
    Up {
        /// Stop after this version.
        #[arg(long)]
        to: Option<i64>,
    },
    /// Revert the latest migration, or every one above a version.
    Down {
        /// Revert down to (not including) this version; 0 reverts all.
        #[arg(long)]
        to: Option<i64>,
    },
    /// List migrations: applied, pending, changed or missing (exits 1 if
    /// any applied one changed or is missing).
    Status,
    /// Create `<now>_<name>/` with empty up.sql and down.sql.
    New {
        /// Lowercase letters, digits and `_`, e.g. `add_users_email_index`.
        name: String,
    },
    /// Revert the latest migration and apply it again.
    Redo,
    /// Check that applied migrations match the files (checksums, none missing).
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Prints the error, its first cause and its root cause on one line.
fn fail(err: &dyn std::error::Error) -> ExitCode {
    let mut line = format!("error: {err}");
    let mut causes = std::iter::successors(err.source(), |e| e.source());
    if let Some(first) = causes.next() {
        line.push_str(&format!(": {first}"));
    }
    if let Some(root) = causes.last() {
        let root = root.to_string();
        // PostgreSQL's own errors print as `ERROR: message`; the message
        // is usually on the line already.
        let message = match root.split_once(": ") {
            Some((severity, rest)) if severity.bytes().all(|b| b.is_ascii_uppercase()) => rest,
            _ => &root,
        };
        if !line.contains(message) {
            line.push_str(&format!(" ({root})"));
        }
    }
    eprintln!("{}", line.replace('\n', " "));
    ExitCode::FAILURE
}

/// A command needs two connections at most (the migration lock's and
/// one for its statements), and no warm ones: an application's
/// `DB_POOL_MIN` (above 2, say) must not make every command fail.
async fn connect() -> strata::Result<Db> {
    Db::connect(Config::from_env()?.pool_min(0).pool_max(2)).await
}

async fn run(cli: Cli) -> strata::Result<()> {
    match cli.command {
        Command::Health => {
            let started = Instant::now();
            let db = connect().await?;
            db.query_read_one("SELECT 1", &[]).await?;
            println!("ok ({} ms)", started.elapsed().as_millis());
            Ok(())
        }
        Command::Migrate { dir, action } => migrate(dir, action).await,
    }
}

async fn migrate(dir: PathBuf, action: Migrate) -> strata::Result<()> {
    if let Migrate::New { name } = &action {
        let path = Migrator::create(&dir, name)?;
        println!("created {}", path.display());
        return Ok(());
    }
    let migrator = Migrator::from_dir(&dir)?.on_step(print_step);
    let db = connect().await?;
    let steps = match action {
        Migrate::Up { to: None } => migrator.up(&db).await?,
        Migrate::Up { to: Some(v) } => migrator.up_to(&db, v).await?,
        Migrate::Down { to: None } => migrator.down(&db).await?,
        Migrate::Down { to: Some(v) } => migrator.down_to(&db, v).await?,
        Migrate::Redo => migrator.redo(&db).await?,
        Migrate::Verify => {
            migrator.verify(&db).await?;
            println!("ok: {} migrations verified", migrator.migrations().len());
            return Ok(());
        }
        Migrate::Status => {
            for s in migrator.status(&db).await? {
                let when = s
                    .applied_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default();
                println!("{:<16} {:<8} {:<32} {when}", s.version, s.state, s.name);
            }
            // A changed or missing applied migration fails `status` as it
            // fails `up` and `verify`: a script (or CI) that checks status
            // must not read drift as success.
            return migrator.verify(&db).await;
        }
        Migrate::New { .. } => unreachable!("handled above"),
    };
    if steps.is_empty() {
        println!("nothing to do");
    }
    Ok(())
}

fn print_step(step: &Step) {
    let verb = match step.direction {
        Direction::Up => "applied ",
        Direction::Down => "reverted",
    };
    println!(
        "{verb} {} {} ({} ms)",
        step.version,
        step.name,
        step.elapsed.as_millis()
    );
}
