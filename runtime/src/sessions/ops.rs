//! The session operations: create, get, touch, update, rotate, destroy.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::jsonb::JsonDoc;

use super::Sessions;
use super::row::{NewSessionRow, Session, SessionRow, SessionRowPatch, TABLE};
use super::token::{SessionToken, hash_of};
use crate::cached::CachedModelExt;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::model::ModelExt;

/// User agents longer than this many characters are cut to it.
const MAX_USER_AGENT: usize = 512;

/// What a new session starts with: [`Sessions::create`]'s input.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    user_id: Option<String>,
    ip: Option<IpAddr>,
    user_agent: Option<String>,
    data: Map<String, Value>,
}

impl NewSession {
    /// An anonymous session (no user).
    pub fn anonymous() -> NewSession {
        NewSession::default()
    }

    /// A session of this user.
    pub fn for_user(user_id: impl Into<String>) -> NewSession {
        NewSession {
            user_id: Some(user_id.into()),
            ..NewSession::default()
        }
    }

    /// The client's address.
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// The client's user agent; cut to its first 512 characters (it is
    /// the client's to choose, and a long one must not fail a login).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        let agent: String = agent.into();
        self.user_agent = Some(match agent.char_indices().nth(MAX_USER_AGENT) {
            Some((cut, _)) => agent[..cut].to_owned(),
            None => agent,
        });
        self
    }

    /// A first data entry.
    pub fn data(mut self, key: impl Into<String>, value: Value) -> Self {
        self.data.insert(key.into(), value);
        self
    }
}

/// A change to a session's data for [`Sessions::update`]: keys to set and
/// keys to remove, applied together (removals first).
#[derive(Debug, Clone, Default)]
pub struct DataPatch {
    set: Map<String, Value>,
    remove: Vec<String>,
}

impl DataPatch {
    /// An empty patch.
    pub fn new() -> DataPatch {
        DataPatch::default()
    }

    /// Sets `key` to `value`.
    pub fn set(mut self, key: impl Into<String>, value: Value) -> Self {
        self.set.insert(key.into(), value);
        self
    }

    /// Removes `key` (if a `set` of the same key is in this patch, the set wins).
    pub fn remove(mut self, key: impl Into<String>) -> Self {
        self.remove.push(key.into());
        self
    }
}

impl Sessions {
    /// Creates a session and returns its token (for the client) and the
    /// session. Its deadlines are now + the absolute timeout and now + the
    /// idle timeout.
    pub async fn create(&self, new: NewSession) -> Result<(SessionToken, Session)> {
        let token = SessionToken::generate()?;
        let now = self.clock.now();
        let row = SessionRow::insert(
            &self.db,
            NewSessionRow {
                token_hash: token.hash(),
                user_id: new.user_id,
                data: JsonDoc(Value::Object(new.data)),
                version: 1,
                ip: new.ip,
                user_agent: new.user_agent,
                created_at: now,
                last_seen_at: now,
                expires_at: now + self.absolute,
                idle_expires_at: now + self.idle,
            },
        )
        .await?;
        Ok((token, row.into()))
    }

    /// The live session of this token, or `None`: for a malformed, forged,
    /// destroyed, rotated or expired token alike. Reads through the cache;
    /// the deadlines are checked on every read, so a cached entry is never
    /// returned past them. Does not record activity: see [`touch`](Self::touch).
    pub async fn get(&self, token: &str) -> Result<Option<Session>> {
        Ok(self.live_row(token).await?.map(|(_, row)| row.into()))
    }

    /// [`get`](Self::get), and records activity: moves the idle deadline
    /// to now + the idle timeout, but writes only when the last recorded
    /// activity is at least the touch interval old, so a busy session
    /// costs one write per interval. Returns the session as it now stands.
    pub async fn touch(&self, token: &str) -> Result<Option<Session>> {
        let Some((hash, row)) = self.live_row(token).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if now.duration_since(row.last_seen_at).unwrap_or_default() < self.touch_every() {
            return Ok(Some(row.into()));
        }
        let patch = SessionRowPatch {
            last_seen_at: Some(now),
            idle_expires_at: Some(now + self.idle),
            ..SessionRowPatch::default()
        };
        // The model's patch invalidates the cached row in every process.
        match SessionRow::patch(&self.db, hash, patch).await {
            Ok(row) => Ok(Some(row.into())),
            // Destroyed or rotated since it was read.
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Changes the data of a live session in one statement and returns
    /// its new version, or `None` if the token has no live session.
    ///
    /// The server applies the change to the row as it stands, under the
    /// row lock (`(data - removed) || set`), so concurrent updates of
    /// different keys all survive, and each one adds 1 to the version.
    pub async fn update(&self, token: &str, patch: DataPatch) -> Result<Option<i64>> {
        let Some(hash) = hash_of(token) else {
            return Ok(None);
        };
        let now = self.clock.now();
        let set = JsonDoc(Value::Object(patch.set));
        let row = self
            .db
            .query_opt(
                &format!(
                    "UPDATE {TABLE} SET data = (data - $2::text[]) || $3::jsonb, version = version + 1 \
                     WHERE token_hash = $1 AND expires_at > $4 AND idle_expires_at > $4 RETURNING version"
                ),
                &[&hash, &patch.remove, &set, &now],
            )
            .await?;
        // Only a changed row has an entry to forget: a forged token costs
        // no invalidation traffic.
        let Some(row) = row else {
            return Ok(None);
        };
        self.db.invalidate::<SessionRow>(&hash).await;
        Ok(Some(row.get(0)))
    }

    /// Replaces a live session's token (after a login or a privilege
    /// change) and restarts its absolute and idle deadlines; data, user
    /// and version stay. Returns the new token, or `None` if `token` has
    /// no live session. The old token is dead at once in every process:
    /// the row's key changes in one statement and the old key's cache
    /// entry is invalidated everywhere.
    pub async fn rotate(&self, token: &str) -> Result<Option<SessionToken>> {
        let Some(old) = hash_of(token) else {
            return Ok(None);
        };
        let fresh = SessionToken::generate()?;
        let new = fresh.hash();
        let now = self.clock.now();
        let (expires, idle) = (now + self.absolute, now + self.idle);
        let moved = self
            .db
            .execute(
                &format!(
                    "UPDATE {TABLE} SET token_hash = $2, last_seen_at = $3, expires_at = $4, \
                     idle_expires_at = $5 \
                     WHERE token_hash = $1 AND expires_at > $3 AND idle_expires_at > $3"
                ),
                &[&old, &new, &now, &expires, &idle],
            )
            .await?;
        if moved == 0 {
            return Ok(None);
        }
        self.db.invalidate::<SessionRow>(&old).await;
        self.db.invalidate::<SessionRow>(&new).await;
        Ok(Some(fresh))
    }

    /// Ends the session of this token; `false` if there was none. Its
    /// cache entry is invalidated in every process.
    pub async fn destroy(&self, token: &str) -> Result<bool> {
        let Some(hash) = hash_of(token) else {
            return Ok(false);
        };
        match SessionRow::hard_delete(&self.db, hash).await {
            Ok(()) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Ends every session of this user in one statement; returns how many.
    /// Every cached session is invalidated in every process (the cache
    /// cannot name a user's rows without reading them).
    pub async fn destroy_all_for_user(&self, user_id: &str) -> Result<u64> {
        SessionRow::query()
            .filter(SessionRow::USER_ID.eq(user_id.to_owned()))
            .hard_delete(&self.db)
            .await
    }

    /// The token's row if it is alive now, with its hash.
    async fn live_row(&self, token: &str) -> Result<Option<(Vec<u8>, SessionRow)>> {
        let Some(hash) = hash_of(token) else {
            return Ok(None);
        };
        let row = SessionRow::find_cached(&self.db, hash.clone()).await?;
        let now = self.clock.now();
        Ok(row.filter(|r| r.is_live_at(now)).map(|r| (hash, r)))
    }
}
