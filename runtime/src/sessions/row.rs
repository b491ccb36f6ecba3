//! The sessions table: its model (so reads go through strata's cache and
//! deletes invalidate it in every process), its DDL, and the public view
//! of a row.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Timestamp;
use crate::jsonb::JsonDoc;

/// The sessions table, found on the `search_path` like every model's.
pub const TABLE: &str = "strata_sessions";

/// One stored session. Keyed by the token's SHA-256 hash; the token itself
/// is never stored.
#[derive(crate::Model, Debug, Clone, Serialize, Deserialize)]
#[model(table = "strata_sessions", cache(ttl_secs = 300))]
pub(crate) struct SessionRow {
    #[model(primary_key)]
    pub(crate) token_hash: Vec<u8>,
    pub(crate) user_id: Option<String>,
    pub(crate) data: JsonDoc,
    pub(crate) version: i64,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) user_agent: Option<String>,
    pub(crate) created_at: Timestamp,
    pub(crate) last_seen_at: Timestamp,
    pub(crate) expires_at: Timestamp,
    pub(crate) idle_expires_at: Timestamp,
}

impl SessionRow {
    /// Whether the session is alive at `now`: strictly before both its
    /// absolute and its idle deadline.
    pub(crate) fn is_live_at(&self, now: Timestamp) -> bool {
        now < self.expires_at && now < self.idle_expires_at
    }
}

/// The statements that create the sessions table and its indexes, for a
/// migration (or [`Db::install_sessions`](crate::Db::install_sessions)).
/// Idempotent; unqualified, so they create the table in the first schema
/// of the `search_path`.
pub fn install_statements() -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    user_id text,
    data jsonb NOT NULL DEFAULT '{{}}' CHECK (jsonb_typeof(data) = 'object'),
    version bigint NOT NULL DEFAULT 1,
    ip inet,
    user_agent text,
    created_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL)"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {TABLE}_user_id ON {TABLE} (user_id) WHERE user_id IS NOT NULL"
        ),
        format!(
            "CREATE INDEX IF NOT EXISTS {TABLE}_dead_at ON {TABLE} ((LEAST(expires_at, idle_expires_at)))"
        ),
    ]
}

/// A live session, as [`Sessions::get`](super::Sessions::get) returns it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Session {
    /// Whose session it is (`None` for an anonymous one).
    pub user_id: Option<String>,
    /// The session's data, a JSON object.
    pub data: Map<String, Value>,
    /// Starts at 1; every [`update`](super::Sessions::update) adds one.
    pub version: i64,
    /// The client's address when the session was created.
    pub ip: Option<IpAddr>,
    /// The client's user agent when the session was created.
    pub user_agent: Option<String>,
    /// When it was created.
    pub created_at: Timestamp,
    /// The last recorded activity (see [`touch`](super::Sessions::touch)).
    pub last_seen_at: Timestamp,
    /// The absolute deadline: dead from this instant on, whatever the activity.
    pub expires_at: Timestamp,
    /// The idle deadline, `last_seen_at + idle`: dead from this instant on
    /// unless touched before.
    pub idle_expires_at: Timestamp,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Session {
        let data = match row.data.0 {
            Value::Object(map) => map,
            // The table's CHECK keeps `data` an object.
            _ => Map::new(),
        };
        Session {
            user_id: row.user_id,
            data,
            version: row.version,
            ip: row.ip,
            user_agent: row.user_agent,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
            idle_expires_at: row.idle_expires_at,
        }
    }
}
