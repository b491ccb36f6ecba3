//! The history table: one row per applied migration, in the schema
//! `Migrator::schema` names (created if missing), or else the connection's
//! current schema (the first existing schema of its `search_path`).

use crate::Timestamp;
use crate::pipeline::round_trip::Link;

use crate::error::{Error, Result};
use crate::sql::ident;

use super::source::Migration;

/// The default history table name.
pub(crate) const DEFAULT_TABLE: &str = "strata_migrations";

/// The resolved, schema-qualified history table.
#[derive(Debug, Clone)]
pub(crate) struct History {
    /// `schema.table`, unquoted: shown to people and hashed into the lock key.
    pub(crate) name: String,
    /// `"schema"."table"`, quoted for SQL.
    quoted: String,
    /// `"schema"`, quoted.
    schema: String,
}

/// One applied migration, as the history table records it.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    pub(crate) version: i64,
    pub(crate) name: String,
    pub(crate) checksum: String,
    pub(crate) applied_at: Timestamp,
    pub(crate) execution_ms: i64,
}

impl History {
    /// Qualifies `table` with `schema`, or else the connection's current
    /// schema.
    ///
    /// Returns `Error::Migration` if no schema is named and none of the
    /// `search_path` exists.
    pub(crate) async fn resolve(
        client: Link<'_>,
        schema: Option<&str>,
        table: &str,
    ) -> Result<History> {
        let schema = match schema {
            Some(s) => s.to_owned(),
            None => {
                let row = client
                    .query_one("SELECT current_schema()", &[])
                    .await
                    .map_err(Error::from_pg)?;
                let schema: Option<String> = row.get(0);
                schema.ok_or_else(|| Error::Migration {
                    version: None,
                    file: None,
                    line: None,
                    message: "no schema of the search_path exists to hold the migration \
                              history; create it, fix search_path, or name one with \
                              Migrator::schema"
                        .into(),
                    source: None,
                })?
            }
        };
        Ok(History {
            name: format!("{schema}.{table}"),
            schema: ident::quote(&schema),
            quoted: format!("{}.{}", ident::quote(&schema), ident::quote(table)),
        })
    }

    /// Creates the table if it is not there. Call it under the migration
    /// lock: two concurrent `CREATE TABLE IF NOT EXISTS` can still collide.
    pub(crate) async fn ensure(&self, client: Link<'_>) -> Result<()> {
        client
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {};
                CREATE TABLE IF NOT EXISTS {} (
                    version      bigint      PRIMARY KEY,
                    name         text        NOT NULL,
                    checksum     text        NOT NULL,
                    applied_at   timestamptz NOT NULL DEFAULT now(),
                    execution_ms bigint      NOT NULL
                )",
                self.schema, self.quoted
            ))
            .await
            .map_err(Error::from_pg)
    }

    /// Every applied migration, oldest version first; empty if the table
    /// does not exist yet.
    pub(crate) async fn load(&self, client: Link<'_>) -> Result<Vec<Applied>> {
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&self.quoted])
            .await
            .map_err(Error::from_pg)?
            .get(0);
        if !exists {
            return Ok(Vec::new());
        }
        let rows = client
            .query(
                &format!(
                    "SELECT version, name, checksum, applied_at, execution_ms FROM {} ORDER BY version",
                    self.quoted
                ),
                &[],
            )
            .await
            .map_err(Error::from_pg)?;
        Ok(rows
            .iter()
            .map(|r| Applied {
                version: r.get(0),
                name: r.get(1),
                checksum: r.get(2),
                applied_at: r.get(3),
                execution_ms: r.get(4),
            })
            .collect())
    }

    /// Records `m` as applied.
    pub(crate) async fn insert(
        &self,
        client: Link<'_>,
        m: &Migration,
        execution_ms: i64,
    ) -> std::result::Result<(), tokio_postgres::Error> {
        client
            .execute(
                &format!(
                    "INSERT INTO {} (version, name, checksum, execution_ms) VALUES ($1, $2, $3, $4)",
                    self.quoted
                ),
                &[&m.version(), &m.name(), &m.checksum_hex(), &execution_ms],
            )
            .await
            .map(drop)
    }

    /// Forgets `version`.
    pub(crate) async fn delete(
        &self,
        client: Link<'_>,
        version: i64,
    ) -> std::result::Result<(), tokio_postgres::Error> {
        client
            .execute(
                &format!("DELETE FROM {} WHERE version = $1", self.quoted),
                &[&version],
            )
            .await
            .map(drop)
    }
}
