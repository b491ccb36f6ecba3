//! Reading the audit log: one row's history, one actor's changes.

use tokio_postgres::Row;

use crate::Timestamp;
use crate::jsonb::JsonDoc;

use crate::error::Result;
use crate::executor::Executor;
use crate::model::Model;

/// One audited change of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The record's id: increasing in commit order of the rows' locks, so
    /// one row's records are in the order its versions were written.
    pub id: i64,
    /// The writing transaction's start (`now()`).
    pub at: Timestamp,
    /// The writing transaction's id (`txid_current()`): records of one
    /// transaction share it.
    pub txid: i64,
    /// `schema.table`.
    pub table_name: String,
    /// The row's key, as text.
    pub row_key: String,
    /// `insert`, `update`, `delete`, `soft_delete` or `restore`.
    pub op: String,
    /// Who, from [`with_actor`](super::with_actor); `None` for a write
    /// outside it (a migration, a `psql` session).
    pub actor: Option<String>,
    /// The tenant of a tenant model's row.
    pub tenant: Option<String>,
    /// The row before the change (`None` for an insert).
    pub before: Option<serde_json::Value>,
    /// The row after the change (`None` for a delete).
    pub after: Option<serde_json::Value>,
}

const COLUMNS: &str = "id, at, txid, table_name, row_key, op, actor, tenant, before, after";

impl AuditRecord {
    fn from_row(row: &Row) -> Self {
        AuditRecord {
            id: row.get(0),
            at: row.get(1),
            txid: row.get(2),
            table_name: row.get(3),
            row_key: row.get(4),
            op: row.get(5),
            actor: row.get(6),
            tenant: row.get(7),
            before: row.get::<_, Option<JsonDoc>>(8).map(JsonDoc::into_inner),
            after: row.get::<_, Option<JsonDoc>>(9).map(JsonDoc::into_inner),
        }
    }

    /// The history of `M`'s row with this key, oldest first.
    pub async fn history<M: Model, E: Executor + ?Sized>(
        e: &E,
        key: impl std::fmt::Display,
    ) -> Result<Vec<AuditRecord>> {
        let key = key.to_string();
        // `schema.table` as the trigger writes it (`TG_TABLE_SCHEMA`): the
        // model's schema, or the first of the `search_path` without one.
        let rows = e
            .query_read(
                &format!(
                    "SELECT {COLUMNS} FROM strata_audit \
                     WHERE table_name = coalesce($1, current_schema()) || '.' || $2 AND row_key = $3 \
                     ORDER BY id"
                ),
                &[&M::META.schema, &M::META.table, &key],
            )
            .await?;
        Ok(rows.iter().map(Self::from_row).collect())
    }

    /// The changes `actor` made, newest first, at most `limit`.
    pub async fn by_actor<E: Executor + ?Sized>(
        e: &E,
        actor: &str,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        let rows = e
            .query_read(
                &format!(
                    "SELECT {COLUMNS} FROM strata_audit WHERE actor = $1 ORDER BY id DESC LIMIT $2"
                ),
                &[&actor, &limit],
            )
            .await?;
        Ok(rows.iter().map(Self::from_row).collect())
    }
}
