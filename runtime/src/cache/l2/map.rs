//! The cluster's slot map as this process last read it, and when to read
//! it again: at the first call, and after any redirect or node failure
//! (at most every [`REFRESH_EVERY`]). A read asks every known node and the
//! seeds at once and takes the first answer, so a dead or black-holed node
//! costs no extra wait.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::FutureExt;

use super::client::RedisClient;
use super::cluster::{Addr, Topology, slot};
use crate::cache::CacheCounters;
use crate::observe::counters::bump;

/// The least time between two reads of the map.
const REFRESH_EVERY: Duration = Duration::from_millis(100);

/// See the module docs.
pub(crate) struct ClusterMap {
    seeds: Vec<redis::Client>,
    topology: RwLock<Option<Topology>>,
    /// Set when a call saw a sign the map moved on.
    stale: AtomicBool,
    /// Held while the map is read; when it was last read.
    reading: tokio::sync::Mutex<Option<Instant>>,
    /// Why the map could not be read, until it can.
    cause: Mutex<Option<String>>,
    /// The next node to subscribe through.
    next: AtomicUsize,
}

impl ClusterMap {
    pub(super) fn new(seeds: Vec<redis::Client>) -> Self {
        ClusterMap {
            seeds,
            topology: RwLock::new(None),
            stale: AtomicBool::new(false),
            reading: tokio::sync::Mutex::new(None),
            cause: Mutex::new(None),
            next: AtomicUsize::new(0),
        }
    }

    pub(super) fn stale(&self) {
        self.stale.store(true, Ordering::Release);
    }

    pub(super) fn last_cause(&self) -> Option<String> {
        self.cause.lock().ok()?.clone()
    }

    /// The next node of the map to subscribe through (rotating).
    pub(super) fn next_node(&self) -> Option<Addr> {
        let topology = self.topology.read().ok()?;
        let nodes = topology.as_ref()?.nodes();
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        nodes.get(i % nodes.len().max(1)).cloned()
    }

    /// The master of `key`'s slot, reading the map first if it is unknown
    /// or stale.
    pub(super) async fn master(
        &self,
        client: &RedisClient,
        counters: &CacheCounters,
        key: &str,
    ) -> Option<Addr> {
        self.fresh(client, counters).await;
        let topology = self.topology.read().ok()?;
        topology.as_ref()?.master(slot(key)).cloned()
    }

    /// Every master, reading the map first if it is unknown or stale.
    pub(super) async fn masters(
        &self,
        client: &RedisClient,
        counters: &CacheCounters,
    ) -> Vec<Addr> {
        self.fresh(client, counters).await;
        self.topology
            .read()
            .ok()
            .and_then(|t| t.as_ref().map(Topology::masters))
            .unwrap_or_default()
    }

    /// Reads the map if it is unknown, or stale and not read within
    /// [`REFRESH_EVERY`]. While another call reads a known map, this one
    /// goes on with the old one.
    async fn fresh(&self, client: &RedisClient, counters: &CacheCounters) {
        let known = self.topology.read().is_ok_and(|t| t.is_some());
        if known && !self.stale.load(Ordering::Acquire) {
            return;
        }
        let mut last = if known {
            match self.reading.try_lock() {
                Ok(guard) => guard,
                Err(_) => return,
            }
        } else {
            self.reading.lock().await
        };
        let known = self.topology.read().is_ok_and(|t| t.is_some());
        if (known && !self.stale.load(Ordering::Acquire))
            || last.is_some_and(|at| at.elapsed() < REFRESH_EVERY)
        {
            return;
        }
        *last = Some(Instant::now());
        // A redirect seen while this read runs marks the map stale again.
        self.stale.store(false, Ordering::Release);
        match self.read(client).await {
            Ok(topology) => {
                if let Ok(mut t) = self.topology.write() {
                    *t = Some(topology);
                }
                if let Ok(mut cause) = self.cause.lock() {
                    *cause = None;
                }
            }
            Err(err) => {
                bump(&counters.redis_errors);
                self.stale();
                let cause = format!("cannot read the cluster's slot map from any node: {err}");
                let mut last = self.cause.lock().ok();
                if let Some(last) = last.as_mut()
                    && last.as_deref() != Some(&cause)
                {
                    tracing::warn!(error = %cause, "redis cluster unavailable; cached reads fall through to postgres");
                    **last = Some(cause);
                }
            }
        }
    }

    /// `CLUSTER SLOTS` from the first of the known nodes and seeds to answer.
    async fn read(&self, client: &RedisClient) -> Result<Topology, String> {
        let mut clients: Vec<redis::Client> = self
            .topology
            .read()
            .ok()
            .and_then(|t| t.as_ref().map(|t| t.nodes().to_vec()))
            .unwrap_or_default()
            .iter()
            .filter_map(|addr| client.client_for(addr).ok())
            .collect();
        clients.extend(self.seeds.iter().cloned());
        let asks = clients.into_iter().map(|c| {
            async move {
                let mut conn = client.connect(&c).await?;
                let reply = tokio::time::timeout(
                    client.timeout(),
                    redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut conn),
                )
                .await
                .map_err(|_| "no answer to CLUSTER SLOTS".to_owned())?
                .map_err(|e| super::cluster::slots_failed(&e))?;
                Topology::parse(&reply).ok_or_else(|| "the cluster serves no slot yet".to_owned())
            }
            .boxed()
        });
        futures_util::future::select_ok(asks)
            .await
            .map(|(topology, _)| topology)
    }
}
