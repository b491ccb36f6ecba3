//! Hand-written L2 baseline: one plain Redis `GET` of the very bytes strata
//! stored for the row, decoded with rmp-serde into a plain serde struct.

use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

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
}

impl std::fmt::Debug for RedisGet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisGet")
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

impl RedisGet {
    /// Connects; rows live at `<key_prefix><id>`.
    pub(crate) async fn connect(url: &str, key_prefix: String) -> Result<RedisGet, BoxError> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new(client).await?;
        Ok(RedisGet { conn, key_prefix })
    }

    /// The raw bytes under row `id`'s key.
    pub(crate) async fn get_bytes(&self, id: i64) -> Result<Option<Vec<u8>>, BoxError> {
        let mut conn = self.conn.clone();
        Ok(conn.get(format!("{}{id}", self.key_prefix)).await?)
    }
}

impl Contender for RedisGet {
    fn name(&self) -> &str {
        "redis GET"
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
