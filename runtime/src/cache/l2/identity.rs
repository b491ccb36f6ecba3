//! Which Redis answers on a connection: what the epoch check of a new
//! connection (see `lease/`) compares with the one recorded.

use super::client::{Checkout, Route};
use super::{L2, cluster};
use crate::cache::CacheCounters;

/// Who answers on a connection: on a cluster, which node (`node`), and the
/// identity the epoch is checked against (`id`).
pub(super) struct Identity {
    pub(super) node: Option<String>,
    pub(super) id: String,
}

impl L2 {
    /// Who answers on `conn`, for the epoch check (see `lease/`): the
    /// server's `run_id`, or on a cluster the node's id and its `run_id`
    /// and replication id (`None` if the node is no longer a master).
    pub(super) async fn identity(
        &self,
        checkout: &Checkout,
        counters: &CacheCounters,
    ) -> Option<Identity> {
        let mut conn = checkout.conn.clone();
        let cluster = self.redis.map.is_some();
        let (info, id): (String, Option<String>) = self
            .redis
            .run("INFO", &checkout.node, None, counters, async move {
                let mut pipe = redis::pipe();
                if cluster {
                    pipe.cmd("INFO").arg("server").arg("replication");
                    pipe.cmd("CLUSTER").arg("MYID");
                    pipe.query_async(&mut conn).await
                } else {
                    pipe.cmd("INFO").arg("server");
                    let (info,): (String,) = pipe.query_async(&mut conn).await?;
                    Ok((info, None))
                }
            })
            .await?
            .ok()?;
        match id {
            Some(node) => Some(Identity {
                node: Some(node),
                id: cluster::identity(&info)?,
            }),
            None => Some(Identity {
                node: None,
                id: info
                    .lines()
                    .find_map(|l| l.strip_prefix("run_id:"))
                    .map(|id| id.trim().to_owned())?,
            }),
        }
    }

    /// Checks `checkout`'s server against the epoch (see `lease/`) and
    /// records the epoch it may be read under. On a cluster, every other
    /// master not yet checked is checked first: a node first seen bumps
    /// the epoch (flushing L1, moving every table's tag), and one bump for
    /// all of them at the first call beats one per node as calls meet them.
    pub(super) async fn verify(
        &self,
        checkout: &Checkout,
        counters: &CacheCounters,
    ) -> Option<u64> {
        if self.redis.is_cluster() {
            for addr in self.redis.masters(counters).await {
                if addr == checkout.node.addr {
                    continue;
                }
                if let Some(other) = self.redis.checkout(counters, Route::Node(&addr)).await
                    && other.verified.is_none()
                    && let Some(who) = self.identity(&other, counters).await
                    && let Some(v) = self.lease.verify_redis(who.node.as_deref(), &who.id).await
                {
                    self.redis.verified(&other.node, other.id, v);
                }
            }
        }
        let who = self.identity(checkout, counters).await?;
        let v = self
            .lease
            .verify_redis(who.node.as_deref(), &who.id)
            .await?;
        self.redis.verified(&checkout.node, checkout.id, v);
        Some(v)
    }
}
