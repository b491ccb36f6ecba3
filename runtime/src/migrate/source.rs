//! Where migrations come from: a folder on disk or a set embedded at compile
//! time with [`embed_migrations!`](crate::embed_migrations), and creating a
//! new, empty one.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One migration compiled into the binary by
/// [`embed_migrations!`](crate::embed_migrations). Built by the macro; pass the
/// slice to [`Migrator::embedded`](super::Migrator::embedded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedMigration {
    /// The version, the folder name's numeric prefix.
    pub version: i64,
    /// The name, the rest of the folder name.
    pub name: &'static str,
    /// The text of `up.sql`.
    pub up: &'static str,
    /// The text of `down.sql`, if the folder has one.
    pub down: Option<&'static str>,
    /// Whether `up.sql` starts with `-- strata:no-transaction`.
    pub no_transaction: bool,
}

/// A migration: a version, a name, the SQL to apply it and (usually) the SQL
/// to revert it.
///
/// Two migrations are equal when their version, name and both files are;
/// where they were loaded from does not matter.
#[derive(Clone)]
pub struct Migration {
    version: i64,
    name: String,
    up: String,
    down: Option<String>,
    checksum: [u8; 32],
    /// Where the files are, for error messages: the folder, or `<version>_<name>` when embedded.
    origin: String,
}

impl PartialEq for Migration {
    fn eq(&self, other: &Self) -> bool {
        (self.version, &self.name, &self.up, &self.down)
            == (other.version, &other.name, &other.up, &other.down)
    }
}

impl Eq for Migration {}

impl fmt::Debug for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migration")
            .field("version", &self.version)
            .field("name", &self.name)
            .field("checksum", &self.checksum_hex())
            .field("no_transaction", &self.no_transaction())
            .finish_non_exhaustive()
    }
}

impl Migration {
    /// A migration from its parts. `origin` names where the files are, for
    /// error messages.
    pub(crate) fn new(
        version: i64,
        name: impl Into<String>,
        up: impl Into<String>,
        down: Option<String>,
        origin: impl Into<String>,
    ) -> Migration {
        let up = up.into();
        let checksum = Sha256::digest(up.as_bytes()).into();
        Migration {
            version,
            name: name.into(),
            up,
            down,
            checksum,
            origin: origin.into(),
        }
    }

    /// The version (the folder name's numeric prefix, a sortable timestamp).
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The name (the rest of the folder name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text of `up.sql`.
    pub fn up_sql(&self) -> &str {
        &self.up
    }

    /// The text of `down.sql`, if there is one.
    pub fn down_sql(&self) -> Option<&str> {
        self.down.as_deref()
    }

    /// SHA-256 of `up.sql`, as recorded in the history table.
    pub fn checksum(&self) -> &[u8; 32] {
        &self.checksum
    }

    /// The checksum as lowercase hex.
    pub fn checksum_hex(&self) -> String {
        hex(&self.checksum)
    }

    /// Whether `up.sql` starts with `-- strata:no-transaction` and so runs
    /// statement by statement outside a transaction.
    pub fn no_transaction(&self) -> bool {
        is_no_transaction(&self.up)
    }

    /// `<origin>/<file>`: how errors name a file of this migration.
    pub(crate) fn file(&self, file: &str) -> String {
        format!("{}/{file}", self.origin)
    }

    /// `20240101000000_create_users`.
    pub(crate) fn label(&self) -> String {
        format!("{}_{}", self.version, self.name)
    }
}

pub(crate) use strata_migrations_fs::is_no_transaction;

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn error(message: String) -> Error {
    Error::Migration {
        version: None,
        file: None,
        line: None,
        message,
        source: None,
    }
}

/// Reads every `<version>_<name>/` folder under `dir`, sorted by version,
/// with the rules `embed_migrations!` applies ([`strata_migrations_fs::scan`]).
pub(crate) fn load_dir(dir: &Path) -> Result<Vec<Migration>> {
    let found = strata_migrations_fs::scan(dir).map_err(|e| error(e.to_string()))?;
    Ok(found
        .into_iter()
        .map(|m| {
            Migration::new(
                m.version,
                m.name,
                m.up_sql,
                m.down.map(|(_, text)| text),
                m.dir.display().to_string(),
            )
        })
        .collect())
}

/// Turns an embedded set into migrations, sorted by version.
pub(crate) fn load_embedded(set: &[EmbeddedMigration]) -> Result<Vec<Migration>> {
    let out = set
        .iter()
        .map(|m| {
            Migration::new(
                m.version,
                m.name,
                m.up,
                m.down.map(str::to_owned),
                format!("{}_{}", m.version, m.name),
            )
        })
        .collect();
    sorted(out)
}

fn sorted(mut out: Vec<Migration>) -> Result<Vec<Migration>> {
    strata_migrations_fs::sort_by_version(&mut out, |m| (m.version, m.name.as_str()))
        .map_err(|e| error(e.to_string()))?;
    Ok(out)
}

/// Creates `<dir>/<now>_<name>/` with empty `up.sql` and `down.sql`.
///
/// The version is the current UTC time as `YYYYMMDDhhmmss`, moved past the
/// newest existing version if the clock is behind it (or two are created in
/// the same second). Returns the new folder.
pub(crate) fn create(dir: &Path, name: &str) -> Result<PathBuf> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Error::InvalidInput {
            reason: format!(
                "migration name {name:?} is not valid; use lowercase letters, digits and `_`, e.g. add_users_email_index"
            ),
        });
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| error(format!("cannot create {} ({e})", dir.display())))?;
    let newest = load_dir(dir)?.last().map_or(0, |m| m.version);
    let (y, mo, d, h, mi, s) = crate::Timestamp::now().utc_fields();
    let now: i64 = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
        .parse()
        .unwrap_or(0);
    let version = if now > newest { now } else { newest + 1 };
    let path = dir.join(format!("{version}_{name}"));
    std::fs::create_dir(&path)
        .map_err(|e| error(format!("cannot create {} ({e})", path.display())))?;
    for file in ["up.sql", "down.sql"] {
        let p = path.join(file);
        std::fs::write(&p, "").map_err(|e| error(format!("cannot write {} ({e})", p.display())))?;
    }
    Ok(path)
}
