//! The migrations folder of strata: `<dir>/<version>_<name>/up.sql` (and
//! an optional `down.sql`), read by one function, [`scan`], that both
//! `embed_migrations!` (at compile time) and `strata::migrate::Migrator::from_dir`
//! (at run time) call, so a folder one of them accepts the other accepts
//! too. Not for use outside strata's own crates.
//!
//! A crate of its own, std only, because a proc-macro crate cannot export
//! functions and the runtime cannot be a dependency of the macro.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The first line that makes a file run outside a transaction.
pub const NO_TRANSACTION: &str = "-- strata:no-transaction";

/// Whether `sql` starts with [`NO_TRANSACTION`].
pub fn is_no_transaction(sql: &str) -> bool {
    sql.lines()
        .next()
        .is_some_and(|l| l.trim() == NO_TRANSACTION)
}

/// One migration folder, its files read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationDir {
    /// The folder name's numeric prefix.
    pub version: i64,
    /// The rest of the folder name, after the first `_`.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// `<dir>/up.sql`.
    pub up: PathBuf,
    /// The text of `up.sql`.
    pub up_sql: String,
    /// `<dir>/down.sql` and its text, if the folder has one.
    pub down: Option<(PathBuf, String)>,
}

/// Why a migrations folder cannot be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum ScanError {
    /// The folder itself cannot be read.
    ReadDir {
        /// The folder.
        dir: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// An entry of the folder cannot be listed.
    List {
        /// The folder.
        dir: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// A subfolder's name is not `<version>_<name>`.
    BadName {
        /// The subfolder.
        path: PathBuf,
    },
    /// A migration file cannot be read (`up.sql` is missing, say).
    ReadFile {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// Two migrations have one version.
    DuplicateVersion {
        /// The version.
        version: i64,
        /// The first migration's name.
        first: String,
        /// The second migration's name.
        second: String,
    },
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::ReadDir { dir, source } => write!(
                f,
                "cannot read the migrations folder {} ({source})",
                dir.display()
            ),
            ScanError::List { dir, source } => {
                write!(f, "cannot list {} ({source})", dir.display())
            }
            ScanError::BadName { path } => write!(
                f,
                "migration folder {} is not named <version>_<name>, e.g. 20240101120000_create_users",
                path.display()
            ),
            ScanError::ReadFile { path, source } => write!(
                f,
                "cannot read migration file {} ({source})",
                path.display()
            ),
            ScanError::DuplicateVersion {
                version,
                first,
                second,
            } => write!(
                f,
                "two migrations share version {version}: {first} and {second}"
            ),
        }
    }
}

impl std::error::Error for ScanError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScanError::ReadDir { source, .. }
            | ScanError::List { source, .. }
            | ScanError::ReadFile { source, .. } => Some(source),
            ScanError::BadName { .. } | ScanError::DuplicateVersion { .. } => None,
        }
    }
}

/// Splits `20240101000000_create_users` into its version and name: the
/// version is ASCII digits that fit an `i64`, the name is not empty.
pub fn parse_dir_name(dir_name: &str) -> Option<(i64, &str)> {
    let (version, name) = dir_name.split_once('_')?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
        return None;
    }
    Some((version.parse().ok()?, name))
}

/// Reads every subfolder of `dir` as a migration, sorted by version.
/// Files directly in `dir` are ignored; every subfolder must be a
/// migration with an `up.sql`, and no two may share a version.
pub fn scan(dir: &Path) -> Result<Vec<MigrationDir>, ScanError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ScanError::ReadDir {
        dir: dir.to_owned(),
        source,
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ScanError::List {
            dir: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        let (version, name) =
            parse_dir_name(&dir_name).ok_or_else(|| ScanError::BadName { path: path.clone() })?;
        let up = path.join("up.sql");
        let up_sql = read(&up)?;
        let down = path.join("down.sql");
        let down = if down.is_file() {
            let text = read(&down)?;
            Some((down, text))
        } else {
            None
        };
        found.push(MigrationDir {
            version,
            name: name.to_owned(),
            dir: path,
            up,
            up_sql,
            down,
        });
    }
    sort_by_version(&mut found, |m| (m.version, m.name.as_str()))?;
    Ok(found)
}

/// Sorts `items` by version and rejects two with one version. `key` gives
/// an item's version and name. For folders ([`scan`]) and embedded sets.
pub fn sort_by_version<T>(
    items: &mut [T],
    key: impl Fn(&T) -> (i64, &str),
) -> Result<(), ScanError> {
    items.sort_by_key(|item| key(item).0);
    match items.windows(2).find(|w| key(&w[0]).0 == key(&w[1]).0) {
        Some(w) => Err(ScanError::DuplicateVersion {
            version: key(&w[0]).0,
            first: key(&w[0]).1.to_owned(),
            second: key(&w[1]).1.to_owned(),
        }),
        None => Ok(()),
    }
}

fn read(path: &Path) -> Result<String, ScanError> {
    std::fs::read_to_string(path).map_err(|source| ScanError::ReadFile {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_names() {
        assert_eq!(
            parse_dir_name("20240101_create_users"),
            Some((20240101, "create_users"))
        );
        assert_eq!(parse_dir_name("1_a_b"), Some((1, "a_b")));
        for bad in [
            "create_users",
            "1_",
            "_x",
            "12a_x",
            "-1_x",
            "99999999999999999999_x",
            "1",
        ] {
            assert_eq!(parse_dir_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn no_transaction_is_the_first_line() {
        assert!(is_no_transaction(
            "-- strata:no-transaction\nCREATE INDEX .."
        ));
        assert!(is_no_transaction("  -- strata:no-transaction  \n"));
        assert!(!is_no_transaction("SELECT 1;\n-- strata:no-transaction"));
    }

    #[test]
    fn duplicate_versions_are_named() {
        let mut items = [(2, "b"), (1, "a"), (2, "c")];
        let err = sort_by_version(&mut items, |&(v, n)| (v, n)).unwrap_err();
        assert_eq!(err.to_string(), "two migrations share version 2: b and c");
    }
}

#[cfg(feature = "layouts")]
pub mod layouts;
