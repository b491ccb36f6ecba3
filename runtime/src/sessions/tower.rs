//! `tower_sessions::SessionStore` over the sessions table (feature
//! `tower-sessions`), for axum applications that use tower-sessions'
//! `Session` extractor.
//!
//! tower-sessions keeps its own semantics: its `Id` (a random `i128`, the
//! cookie's value) names the session, its `Record` holds the whole data
//! map and one expiry date, which its `Expiry` policy moves on every save.
//! So a record is stored with both deadlines at its `expiry_date` and is
//! served until then (to the microsecond); the row's key is the SHA-256 of
//! the id, under a prefix of its own, so the cookie's value is stored
//! nowhere. Reads go through strata's cache like [`Sessions::get`]'s, and
//! saves and deletes invalidate the entry in every process.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;

use crate::Timestamp;
use crate::jsonb::JsonDoc;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion};

use super::Sessions;
use super::row::{NewSessionRow, SessionRow, TABLE};
use super::token::digest;
use crate::cached::CachedModelExt;
use crate::error::Error;
use crate::executor::Executor;
use crate::model::ModelExt;

/// Ids `create` tries before giving up, should each collide with an
/// existing session (a collision of random 128-bit ids is not expected).
const CREATE_ATTEMPTS: usize = 8;

/// A `tower_sessions::SessionStore` on [`Sessions`]' table and cache:
/// `SessionManagerLayer::new(TowerStore::new(sessions))`.
///
/// The `Sessions`' clock decides expiry; its timeouts do not apply
/// (tower-sessions' `Expiry` sets each record's expiry date). Its
/// `cleanup_expired` also removes the expired records
/// (`ExpiredDeletion::delete_expired` runs it).
#[derive(Debug, Clone)]
pub struct TowerStore {
    sessions: Sessions,
}

impl TowerStore {
    /// A store on this service's database and cache.
    pub fn new(sessions: Sessions) -> TowerStore {
        TowerStore { sessions }
    }
}

/// The row key of a tower-sessions id: a hash, never the id.
fn key_of(id: &Id) -> Vec<u8> {
    let mut bytes = b"tower-sessions:".to_vec();
    bytes.extend_from_slice(&id.0.to_le_bytes());
    digest(&bytes)
}

fn backend(e: Error) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// An expiry date at PostgreSQL's precision (microseconds, rounded down).
fn to_timestamp(at: OffsetDateTime) -> session_store::Result<Timestamp> {
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000))
        .map(Timestamp::from_unix_micros)
        .map_err(|_| session_store::Error::Encode(format!("expiry date {at} is out of range")))
}

fn to_time(at: Timestamp) -> session_store::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.unix_micros()) * 1_000)
        .map_err(|e| session_store::Error::Decode(format!("expiry date {at}: {e}")))
}

fn data_of(record: &Record) -> JsonDoc {
    JsonDoc(Value::Object(record.data.clone().into_iter().collect()))
}

#[async_trait]
impl session_store::SessionStore for TowerStore {
    /// Inserts the record under a fresh id, drawing another one if the id
    /// is taken (tower-sessions' contract for `create`).
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let now = self.sessions.clock.now();
        let expires = to_timestamp(record.expiry_date)?;
        for _ in 0..CREATE_ATTEMPTS {
            let new = NewSessionRow {
                token_hash: key_of(&record.id),
                user_id: None,
                data: data_of(record),
                version: 1,
                ip: None,
                user_agent: None,
                created_at: now,
                last_seen_at: now,
                expires_at: expires,
                idle_expires_at: expires,
            };
            match SessionRow::insert(self.sessions.db(), new).await {
                Ok(_) => return Ok(()),
                Err(Error::UniqueViolation { .. }) => record.id = Id::default(),
                Err(e) => return Err(backend(e)),
            }
        }
        Err(session_store::Error::Backend(format!(
            "{CREATE_ATTEMPTS} random session ids in a row were taken"
        )))
    }

    /// Writes the whole record (insert or replace), one statement.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let key = key_of(&record.id);
        let now = self.sessions.clock.now();
        let expires = to_timestamp(record.expiry_date)?;
        let db = self.sessions.db();
        db.execute(
            &format!(
                "INSERT INTO {TABLE} AS s (token_hash, data, version, created_at, last_seen_at, \
                 expires_at, idle_expires_at) VALUES ($1, $2, 1, $3, $3, $4, $4) \
                 ON CONFLICT (token_hash) DO UPDATE SET data = EXCLUDED.data, \
                 version = s.version + 1, last_seen_at = EXCLUDED.last_seen_at, \
                 expires_at = EXCLUDED.expires_at, idle_expires_at = EXCLUDED.idle_expires_at"
            ),
            &[&key, &data_of(record), &now, &expires],
        )
        .await
        .map_err(backend)?;
        db.invalidate::<SessionRow>(&key).await;
        Ok(())
    }

    /// The record, if it exists and its expiry date is still ahead.
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row = SessionRow::find_cached(self.sessions.db(), key_of(id))
            .await
            .map_err(backend)?;
        let now = self.sessions.clock.now();
        let Some(row) = row.filter(|r| r.is_live_at(now)) else {
            return Ok(None);
        };
        let data: HashMap<String, Value> = match row.data.0 {
            Value::Object(map) => map.into_iter().collect(),
            _ => HashMap::new(),
        };
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date: to_time(row.expires_at.min(row.idle_expires_at))?,
        }))
    }

    /// Removes the record (nothing to do if it is gone).
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match SessionRow::hard_delete(self.sessions.db(), key_of(id)).await {
            Ok(()) | Err(Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }
}

#[async_trait]
impl ExpiredDeletion for TowerStore {
    /// [`Sessions::cleanup_expired`]: bounded batches, no long locks.
    async fn delete_expired(&self) -> session_store::Result<()> {
        self.sessions
            .cleanup_expired()
            .await
            .map(drop)
            .map_err(backend)
    }
}
