//! `strata database create|drop|reset|setup`: the database the settings
//! name, managed through the server's maintenance database (`postgres`, or
//! `template1` when the target is `postgres` itself), as sqlx-cli does.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use clap::Subcommand;
use strata::Executor;

use crate::Failure;
use crate::migrate::Source;
use crate::settings::Settings;

#[derive(Debug, Subcommand)]
pub(crate) enum Action {
    /// Create the database (nothing to do if it exists).
    Create,
    /// Drop the database (nothing to do if it does not exist).
    Drop {
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
        /// Terminate the connections to it first (`WITH (FORCE)`).
        #[arg(long)]
        force: bool,
    },
    /// Drop the database, create it, and run every migration.
    Reset {
        /// Do not ask for confirmation.
        #[arg(short, long)]
        yes: bool,
        /// Terminate the connections to it first (`WITH (FORCE)`).
        #[arg(long)]
        force: bool,
        /// The migrations folder.
        #[arg(long, default_value = "./migrations")]
        dir: PathBuf,
    },
    /// Create the database if it does not exist, and run every migration.
    Setup {
        /// The migrations folder.
        #[arg(long, default_value = "./migrations")]
        dir: PathBuf,
    },
}

/// `name` as a quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Asks on the terminal whether to drop `name`; without a terminal (a
/// script, CI) the answer is no: such callers pass `--yes`.
fn confirmed(name: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    let refused = || {
        Failure::Refused(format!(
            "not dropping database {name}: pass --yes to confirm"
        ))
    };
    if !std::io::stdin().is_terminal() {
        return Err(refused());
    }
    print!("Drop database {name}? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    match answer.trim() {
        "y" | "Y" | "yes" => Ok(()),
        _ => Err(refused()),
    }
}

/// The target database's name and a pool on the maintenance database.
async fn maintenance(settings: &Settings) -> strata::Result<(String, strata::Db)> {
    let name = settings.config.get_dbname().to_owned();
    let other = if name == "postgres" {
        "template1"
    } else {
        "postgres"
    };
    let db = settings
        .connect_to(settings.config.clone().dbname(other))
        .await?;
    Ok((name, db))
}

/// Whether the database `name` exists.
async fn exists(db: &strata::Db, name: &str) -> strata::Result<bool> {
    let row = db
        .query_read_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?;
    Ok(row.is_some())
}

async fn create(settings: &Settings) -> Result<(), Failure> {
    let (name, db) = maintenance(settings).await?;
    if exists(&db, &name).await? {
        println!("database {name} exists");
    } else {
        db.execute(&format!("CREATE DATABASE {}", ident(&name)), &[])
            .await?;
        println!("created database {name}");
    }
    Ok(())
}

async fn drop(settings: &Settings, yes: bool, force: bool) -> Result<(), Failure> {
    let (name, db) = maintenance(settings).await?;
    if !exists(&db, &name).await? {
        println!("database {name} does not exist");
        return Ok(());
    }
    confirmed(&name, yes)?;
    let with = if force { " WITH (FORCE)" } else { "" };
    db.execute(
        &format!("DROP DATABASE IF EXISTS {}{with}", ident(&name)),
        &[],
    )
    .await?;
    println!("dropped database {name}");
    Ok(())
}

pub(crate) async fn run(settings: &Settings, action: Action) -> Result<(), Failure> {
    match action {
        Action::Create => create(settings).await,
        Action::Drop { yes, force } => drop(settings, yes, force).await,
        Action::Reset { yes, force, dir } => {
            // Read the folder first: a typo in --dir must not cost the data.
            let migrator = crate::migrate::migrator(&Source::new(dir))?;
            drop(settings, yes, force).await?;
            create(settings).await?;
            crate::migrate::up_all(settings, &migrator).await
        }
        Action::Setup { dir } => {
            let migrator = crate::migrate::migrator(&Source::new(dir))?;
            create(settings).await?;
            crate::migrate::up_all(settings, &migrator).await
        }
    }
}
