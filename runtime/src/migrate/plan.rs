//! What a run would do: where each migration stands against the history,
//! and the folder an applied one came from.

use std::collections::BTreeMap;

use super::history::Applied;
use super::{Migration, MigrationStatus, Migrator, State};
use crate::error::{Error, Result};

impl Migrator {
    pub(super) fn compare(&self, applied: &[Applied]) -> Vec<MigrationStatus> {
        let mut out: BTreeMap<i64, MigrationStatus> = BTreeMap::new();
        for m in &self.migrations {
            out.insert(
                m.version(),
                MigrationStatus {
                    version: m.version(),
                    name: m.name().to_owned(),
                    state: State::Pending,
                    applied_at: None,
                    execution_ms: None,
                },
            );
        }
        for a in applied {
            let on_disk = self.migrations.iter().find(|m| m.version() == a.version);
            let state = match on_disk {
                None => State::Missing,
                Some(m) if m.checksum_hex() != a.checksum => State::Changed,
                Some(_) => State::Applied,
            };
            out.insert(
                a.version,
                MigrationStatus {
                    version: a.version,
                    name: on_disk.map_or_else(|| a.name.clone(), |m| m.name().to_owned()),
                    state,
                    applied_at: Some(a.applied_at),
                    execution_ms: Some(a.execution_ms),
                },
            );
        }
        out.into_values().collect()
    }

    pub(super) fn on_disk(&self, applied: &Applied) -> Result<&Migration> {
        self.migrations
            .iter()
            .find(|m| m.version() == applied.version)
            .ok_or_else(|| {
                migration_error(
                    Some(applied.version),
                    format!(
                        "migration {}_{} is applied but its folder is missing; it cannot be reverted",
                        applied.version, applied.name
                    ),
                )
            })
    }
}

pub(super) fn migration_error(version: Option<i64>, message: String) -> Error {
    Error::Migration {
        version,
        file: None,
        line: None,
        message,
        source: None,
    }
}
