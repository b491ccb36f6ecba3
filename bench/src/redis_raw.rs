//! Hand-written L2 baseline: one plain Redis `GET` of the very bytes strata
//! stored for the row, decoded with rmp-serde into a plain serde struct.

use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use strata::Model;

use crate::derived::CachedUser;
use crate::harness::{BoxError, BoxFut, Contender, Op, OpResult, warm_id};

/// The row as a hand-written cache would decode it.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)] // Decoded to pay the cost; not read.
struct PlainUser {
    id: i64,
    tenant_id: i32,
    email: String,
    name: String,
    age: i32,
    active: bool,
    created_at: DateTime<Utc>,
}

/// `GET <key>` on a multiplexed connection manager.
pub(crate) struct RedisGet {
    conn: ConnectionManager,
    /// Key of row id 0; the id is appended.
    key_prefix: String,
    /// Its name in the table.
    name: &'static str,
}

impl std::fmt::Debug for RedisGet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisGet")
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// The key prefix (`{<prefix>:e<epoch>:<table>}:r0:`) of the row entries
/// strata filled under `prefix` on the Redis at `url`, if that server holds
/// row 1's. Row keys carry the cache epoch, which the lease read from
/// PostgreSQL: this finds the one strata used.
pub(crate) async fn row_prefix(url: &str, prefix: &str) -> Result<Option<String>, BoxError> {
    let pattern = format!("{{{prefix}:e*:{}}}:r0:1", CachedUser::META.qualified);
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut conn)
        .await?;
    Ok(keys.first().map(|key| key[..key.len() - 1].to_owned()))
}

impl RedisGet {
    /// Connects; rows live at `<key_prefix><id>`.
    pub(crate) async fn connect(url: &str, key_prefix: String) -> Result<RedisGet, BoxError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(RedisGet {
            conn,
            key_prefix,
            name: "redis GET",
        })
    }

    /// The same, shown as `name`.
    pub(crate) fn named(self, name: &'static str) -> RedisGet {
        RedisGet { name, ..self }
    }

    /// The raw bytes under row `id`'s key.
    pub(crate) async fn get_bytes(&self, id: i64) -> Result<Option<Vec<u8>>, BoxError> {
        let mut conn = self.conn.clone();
        Ok(conn.get(format!("{}{id}", self.key_prefix)).await?)
    }
}

impl Contender for RedisGet {
    fn name(&self) -> &str {
        self.name
    }

    fn supports(&self, op: Op) -> bool {
        op == Op::CachedL2
    }

    fn run(&self, op: Op, arg: u64) -> BoxFut<'_, OpResult> {
        Box::pin(async move {
            if op != Op::CachedL2 {
                return Err("only CachedL2".into());
            }
            let bytes = self
                .get_bytes(warm_id(arg))
                .await?
                .ok_or("row missing from redis")?;
            let user: PlainUser = rmp_serde::from_slice(&bytes)?;
            drop(user);
            Ok(())
        })
    }
}
