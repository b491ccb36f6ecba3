//! The CLI's settings: `--database-url`, then the process environment,
//! then the `.env` file (`--env-file`, else the nearest `.env` of the
//! current directory or its parents, unless `--no-dotenv`), all read
//! through `Config::from_lookup`, so a variable means what it means to
//! the application.

use std::collections::HashMap;

use strata::{Config, Db};

use crate::Connection;

/// The settings every command connects with.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) config: Config,
}

/// The `.env` file to read, if any.
fn env_file(connection: &Connection) -> Option<std::path::PathBuf> {
    if connection.no_dotenv {
        return None;
    }
    if let Some(path) = &connection.env_file {
        return Some(path.clone());
    }
    let dir = std::env::current_dir().ok()?;
    dir.ancestors()
        .map(|d| d.join(".env"))
        .find(|p| p.is_file())
}

impl Settings {
    /// Reads the settings (a named `--env-file` must exist).
    pub(crate) fn read(connection: &Connection) -> strata::Result<Settings> {
        let file = match env_file(connection) {
            Some(path) => Config::read_env_file(&path)?,
            None => HashMap::new(),
        };
        let url = connection.database_url.clone();
        let config = Config::from_lookup(|key| {
            if key == "DATABASE_URL" && url.is_some() {
                return url.clone();
            }
            std::env::var(key).ok().or_else(|| file.get(key).cloned())
        })?;
        Ok(Settings { config })
    }

    /// A pool for one command: two connections at most (the migration
    /// lock's and one for its statements), and no warm ones, so an
    /// application's `DB_POOL_MIN` (above 2, say) cannot make it fail.
    pub(crate) async fn connect(&self) -> strata::Result<Db> {
        self.connect_to(self.config.clone()).await
    }

    /// [`Settings::connect`] with `config`.
    pub(crate) async fn connect_to(&self, config: Config) -> strata::Result<Db> {
        Db::connect(config.pool_min(0).pool_max(2)).await
    }
}
