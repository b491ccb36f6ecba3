//! `strata`: create and drop the database, add and run migrations, and
//! check the connection, from a shell or a CI job.
//!
//! The connection comes from `--database-url`, else `DATABASE_URL` (and
//! the other variables of `strata::Config::from_env`) in the environment,
//! else a `.env` file in the current directory or a parent (see
//! [`settings`]). Exit codes (README, "The strata CLI"):
//! - `0`: done (including "nothing to do");
//! - `1`: it failed: one line starting with `error:` on stderr (cannot
//!   connect, a statement failed, the lock timed out, or `migrate list` /
//!   `verify` found an applied migration changed or missing);
//! - `2`: a command-line mistake, settings that cannot work (a malformed
//!   URL or variable, a missing or malformed `--env-file`), an invalid
//!   migration name, or a `database drop`/`reset` that was not confirmed.

mod database;
mod migrate;
mod settings;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use strata::Executor;

/// Databases, migrations and health checks for strata applications.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about)]
struct Cli {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: Command,
}

/// Where the settings come from.
#[derive(Debug, Args)]
pub(crate) struct Connection {
    /// The database URL (overrides DATABASE_URL and the .env file).
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// Read this file instead of looking for `.env`.
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "no_dotenv")]
    pub(crate) env_file: Option<PathBuf>,
    /// Read no `.env` file (the environment and --database-url only).
    #[arg(long, global = true)]
    pub(crate) no_dotenv: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, drop or reset the database DATABASE_URL names.
    Database {
        #[command(subcommand)]
        action: database::Action,
    },
    /// Add, run, revert or list migrations.
    Migrate {
        /// The migrations folder.
        #[arg(long, global = true, default_value = "./migrations")]
        dir: PathBuf,
        /// The schema of the history table (default: the connection's
        /// current schema).
        #[arg(long, global = true, value_name = "SCHEMA")]
        history_schema: Option<String>,
        #[command(subcommand)]
        action: migrate::Action,
    },
    /// Connect, run `SELECT 1`, and print the round-trip time.
    Health,
}

/// What a command ends with: success, a failure (exit 1) or a refusal that
/// is the caller's to fix (exit 2).
#[derive(Debug)]
pub(crate) enum Failure {
    Error(strata::Error),
    Refused(String),
}

impl From<strata::Error> for Failure {
    fn from(e: strata::Error) -> Self {
        Failure::Error(e)
    }
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
        // Settings or names the caller gave that cannot work: theirs to fix.
        Err(Failure::Error(
            e @ (strata::Error::Config { .. } | strata::Error::InvalidInput { .. }),
        )) => {
            fail(&e);
            ExitCode::from(2)
        }
        Err(Failure::Error(e)) => fail(&e),
        Err(Failure::Refused(why)) => {
            eprintln!("error: {why}");
            ExitCode::from(2)
        }
    }
}

/// Prints the error, its first cause and its root cause on one line.
fn fail(err: &dyn std::error::Error) -> ExitCode {
    let mut line = format!("error: {err}");
    let mut causes = std::iter::successors(err.source(), |e| e.source());
    // tokio-postgres wraps a server error in one that prints "db error":
    // noise next to the message itself.
    if let Some(first) = causes.next().filter(|c| c.to_string() != "db error") {
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

async fn run(cli: Cli) -> Result<(), Failure> {
    let settings = settings::Settings::read(&cli.connection);
    match cli.command {
        Command::Health => {
            let started = Instant::now();
            let db = settings?.connect().await?;
            db.query_read_one("SELECT 1", &[]).await?;
            println!("ok ({} ms)", started.elapsed().as_millis());
            Ok(())
        }
        Command::Database { action } => database::run(&settings?, action).await,
        // `migrate add` needs no database: a broken setting must not stop it.
        Command::Migrate {
            dir,
            history_schema,
            action,
        } => {
            let source = migrate::Source {
                dir,
                history_schema,
            };
            migrate::run(settings, &source, action).await
        }
    }
}
