//! A [`Config`] from a `.env` file, and from any serde format (a TOML or
//! YAML settings file, JSON, figment, ..).
//!
//! Both end in [`Config::from_lookup`]: a key means exactly what the
//! environment variable of that name means, with the same checks, so
//! there is one parser of settings rather than two that drift apart.
//! The process environment is never written (`set_var` races every other
//! thread that reads it); a `.env` file is a lookup under the environment.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer};

use super::Config;
use super::env::VARS;
use crate::error::{Error, Result};

/// The `Error::Config` of a `.env` file that cannot be read. dotenvy
/// reports a bad line by its text and a character offset; the message
/// names its line number, which is what an editor jumps to.
fn dotenv_error(path: &Path, err: &dotenvy::Error) -> Error {
    let reason = match err {
        dotenvy::Error::LineParse(text, at) => {
            let number = std::fs::read_to_string(path).ok().and_then(|content| {
                content
                    .lines()
                    .position(|line| line.trim() == text.trim() || line.contains(text.as_str()))
                    .map(|i| i + 1)
            });
            let line = number.map_or_else(String::new, |n| format!(" line {n}"));
            format!(
                "{}{line}: cannot parse `{text}` (at character {}); expected KEY=value",
                path.display(),
                at + 1
            )
        }
        other => format!("{}: {other}", path.display()),
    };
    Error::Config {
        var: ".env",
        reason,
    }
}

/// The variables of the `.env` file at `path`, in file order (a later
/// line wins).
fn read_file(path: &Path) -> Result<HashMap<String, String>> {
    let iter = dotenvy::from_path_iter(path).map_err(|e| dotenv_error(path, &e))?;
    iter.map(|item| item.map_err(|e| dotenv_error(path, &e)))
        .collect()
}

impl Config {
    /// Reads the process environment over the `.env` file of the current
    /// directory (or the nearest parent that has one), as sqlx-cli and
    /// most twelve-factor tools do: a variable set in the environment
    /// wins over the file's. No `.env` file is the same as
    /// [`Config::from_env`].
    ///
    /// The file is dotenv syntax (`KEY=value`, `export KEY=value`, `#`
    /// comments, single or double quotes, `${OTHER}` expanded from the
    /// file and the environment). A line that does not parse is
    /// `Error::Config` naming `.env`, the file and the line; the process
    /// environment is not changed.
    pub fn from_dotenv() -> Result<Self> {
        let found = std::env::current_dir().ok().and_then(|dir| {
            dir.ancestors()
                .map(|d| d.join(".env"))
                .find(|p| p.is_file())
        });
        match found {
            Some(path) => Self::from_env_file(path),
            None => Self::from_env(),
        }
    }

    /// [`Config::from_dotenv`] with the file named: the process
    /// environment over the `.env`-syntax file at `path`, which must exist
    /// (a missing one is `Error::Config` naming `.env`).
    pub fn from_env_file(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_file_under(path.as_ref(), |key| std::env::var(key).ok())
    }

    /// The variables of the `.env`-syntax file at `path`, as
    /// [`Config::from_env_file`] reads them (the same errors), for a tool
    /// that layers settings of its own over them before
    /// [`Config::from_lookup`] (the `strata` CLI puts `--database-url` on
    /// top).
    pub fn read_env_file(path: impl AsRef<Path>) -> Result<HashMap<String, String>> {
        read_file(path.as_ref())
    }

    /// The settings of `env` over those of the file at `path`.
    fn from_file_under(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let file = read_file(path)?;
        Self::from_lookup(|key| env(key).or_else(|| file.get(key).cloned()))
    }
}

/// One setting's value in a settings file: text, a number, a flag, or a
/// list (`DB_REPLICA_URLS`), each read as the environment variable's text.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Value {
    Flag(bool),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Text(String),
    List(Vec<String>),
}

impl Value {
    fn into_text(self) -> String {
        match self {
            Value::Flag(b) => b.to_string(),
            Value::Unsigned(n) => n.to_string(),
            Value::Signed(n) => n.to_string(),
            Value::Float(n) => n.to_string(),
            Value::Text(s) => s,
            Value::List(items) => items.join(","),
        }
    }
}

/// A `Config` deserializes from a map whose keys are the environment
/// variables' names, in any case (`database_url`, `db_pool_max`,
/// `redis_url`, `cache_ttl_secs`; see [`Config::from_lookup`] for the
/// list), and whose values are text, numbers, booleans or (for
/// `db_replica_urls`) a list of URLs. An unknown key is an error (a typo
/// must not be a silent default), and so is every value
/// [`Config::from_lookup`] refuses.
///
/// ```
/// let config: strata::Config = serde_json::from_str(
///     r#"{ "database_url": "postgres://app@db.internal/shop",
///          "db_pool_max": 8, "db_statement_timeout_ms": 2000,
///          "redis_url": "redis://cache.internal:6379" }"#,
/// )
/// .unwrap();
/// assert_eq!(config.to_string(), "postgres://app@db.internal:5432/shop");
/// ```
impl<'de> Deserialize<'de> for Config {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let settings = BTreeMap::<String, Value>::deserialize(deserializer)?;
        let mut vars = HashMap::with_capacity(settings.len());
        for (key, value) in settings {
            let var = key.to_ascii_uppercase();
            if !VARS.contains(&var.as_str()) {
                return Err(de::Error::custom(format!(
                    "unknown setting `{key}` (settings are named as the environment \
                     variables are, e.g. `database_url`, `db_pool_max`, `redis_url`)"
                )));
            }
            vars.insert(var, value.into_text());
        }
        Config::from_lookup(|key| vars.get(key).cloned()).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile_path::TempEnv {
        tempfile_path::TempEnv::new(text)
    }

    /// A `.env` file in a directory of its own, removed on drop.
    mod tempfile_path {
        pub(super) struct TempEnv(pub(super) std::path::PathBuf);

        impl TempEnv {
            pub(super) fn new(text: &str) -> Self {
                let dir =
                    std::env::temp_dir().join(format!("strata-env-{}", rand::random::<u64>()));
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join(".env");
                std::fs::write(&path, text).unwrap();
                TempEnv(path)
            }
        }

        impl Drop for TempEnv {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
            }
        }
    }

    #[test]
    fn a_dotenv_file_is_read_under_the_environment() {
        let f = file(
            "# the app's settings\n\
             export DATABASE_URL=postgres://app@db.internal/shop\n\
             DB_POOL_MAX=\"7\"\n\
             DB_POOL_MIN=2\n\
             DB_USER='app ${DB_POOL_MAX}'\n",
        );
        let env = |key: &str| (key == "DB_POOL_MIN").then(|| "3".to_owned());
        let c = Config::from_file_under(&f.0, env).unwrap();
        assert_eq!(c.get_dbname(), "shop");
        assert_eq!(c.pool_max, 7);
        // The environment wins over the file.
        assert_eq!(c.pool_min, 3);
        // Single quotes keep `${..}` as written.
        assert_eq!(c.get_user(), "app ${DB_POOL_MAX}");
    }

    #[test]
    fn a_bad_dotenv_file_names_itself_and_changes_nothing() {
        let f = file("# settings\nDB_POOL_MAX=7\n\nthis line is not a setting\n");
        let err = Config::from_env_file(&f.0).unwrap_err();
        assert!(matches!(err, Error::Config { var: ".env", .. }), "{err:?}");
        assert!(err.to_string().contains(".env"), "{err}");
        assert!(
            err.to_string().contains(" line 4: "),
            "the editor's line number: {err}"
        );
        let missing = Config::from_env_file("/nonexistent/.env").unwrap_err();
        assert!(
            matches!(missing, Error::Config { var: ".env", .. }),
            "{missing:?}"
        );
        let bad_value = file("DB_POOL_MAX=many\n");
        let err = Config::from_env_file(&bad_value.0).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config {
                    var: "DB_POOL_MAX",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn settings_deserialize_by_their_variable_names() {
        let c: Config = serde_json::from_value(serde_json::json!({
            "DATABASE_URL": "postgres://app@db.internal/shop",
            "db_pool_max": 8,
            "db_replica_urls": ["postgres://r1/shop", "postgres://r2/shop"],
            "redis_cluster": true,
            "redis_url": "redis://a:6379,redis://b:6379",
            "cache_ttl_secs": "60",
        }))
        .unwrap();
        assert_eq!(c.pool_max, 8);
        assert!(c.redis_cluster);
        assert_eq!(c.cache_ttl, std::time::Duration::from_secs(60));
        assert_eq!(c.replicas.urls.len(), 2);
    }

    #[test]
    fn an_unknown_or_bad_setting_is_an_error() {
        let err =
            serde_json::from_value::<Config>(serde_json::json!({ "db_pool_maxx": 8 })).unwrap_err();
        assert!(
            err.to_string().contains("unknown setting `db_pool_maxx`"),
            "{err}"
        );
        let err =
            serde_json::from_value::<Config>(serde_json::json!({ "db_pool_max": -1 })).unwrap_err();
        assert!(err.to_string().contains("DB_POOL_MAX"), "{err}");
    }

    /// Every variable `from_lookup` reads is a known setting, and every
    /// known setting is read: the list cannot drift from the parser.
    #[test]
    fn the_settings_list_is_what_from_lookup_reads() {
        let asked = std::sync::Mutex::new(std::collections::BTreeSet::new());
        Config::from_lookup(|key| {
            asked.lock().unwrap().insert(key.to_owned());
            None
        })
        .unwrap();
        let asked = asked.into_inner().unwrap();
        let known: std::collections::BTreeSet<String> =
            VARS.iter().map(|v| (*v).to_owned()).collect();
        assert_eq!(asked, known);
    }
}
