//! The Redis client wrapper: one shared multiplexed connection per node,
//! each behind its own breaker, a bound on every connect and call, and the
//! error counting and logging of failures. It knows nothing of what the
//! calls mean.
//!
//! A standalone Redis is one node. On a Redis Cluster (`cluster.rs`) a call
//! names its [`Route`] (a key, whose slot picks the master) and goes to
//! that master only; one node down opens that node's breaker, not the
//! others'. A standalone connection, when made, is checked not to be a
//! cluster node's (`REDIS_CLUSTER` unset on a cluster would otherwise
//! show only as `MOVED` errors, with health reporting Redis up).
//!
//! A connection does not reconnect by itself (no connection manager): a
//! broken one stays broken, and the next call opens a new one here, which
//! the store checks (which Redis is this? see `lease/`) before trusting
//! what it reads through it.
//!
//! A call is two steps, [`RedisClient::checkout`] then [`RedisClient::run`],
//! so that the store can replay missed invalidations in between (see
//! `replay.rs`) while the half-open probe guard stays held for the whole
//! call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::cluster::Addr;
use super::map::ClusterMap;
use crate::breaker::{Breaker, BreakerState};
use crate::cache::CacheCounters;
use crate::observe::counters::bump;

/// Where a call goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Route<'a> {
    /// The master of this key's slot (standalone: the server).
    Key(&'a str),
    /// This node (from [`RedisClient::masters`]).
    Node(&'a Addr),
}

/// A Redis client behind per-node breakers and a per-call timeout.
pub(crate) struct RedisClient {
    /// The server (standalone), or the first seed (cluster): its
    /// connection settings are every node's.
    seed: redis::Client,
    /// The slot map, on a cluster.
    pub(super) map: Option<ClusterMap>,
    /// The nodes called so far, by address (standalone: one, `("", 0)`).
    nodes: Mutex<HashMap<Addr, Arc<Node>>>,
    timeout: Duration,
}

/// One node: its client, breaker and shared connection.
pub(super) struct Node {
    pub(super) addr: Addr,
    /// Where it is reached (for a standalone Redis, the URL's host and
    /// port; `addr` is a placeholder there), for spans.
    server: Addr,
    client: redis::Client,
    breaker: Breaker,
    /// `None` until the first call, and again after an I/O failure or
    /// timeout, so the next call connects afresh.
    conn: Mutex<Option<Slot>>,
}

/// The shared connection, its number, and the epoch its server was
/// verified under (`None` until it was).
#[derive(Clone)]
struct Slot {
    conn: MultiplexedConnection,
    id: u64,
    verified: Option<u64>,
}

/// The guard of the call that is its node's half-open probe: dropping it
/// before a verdict lets another call probe (else the breaker would stay
/// half-open for good).
pub(super) struct Probe(Arc<Node>);

impl Drop for Probe {
    fn drop(&mut self) {
        self.0.breaker.abandon_probe();
    }
}

/// The connection of one call.
pub(super) struct Checkout {
    pub(super) conn: MultiplexedConnection,
    pub(super) node: Arc<Node>,
    pub(super) probe: Option<Probe>,
    /// Which connection this is, for [`RedisClient::verified`].
    pub(super) id: u64,
    /// The epoch its server was verified under, if it was.
    pub(super) verified: Option<u64>,
}

/// The standalone server's key in the node table.
fn standalone() -> Addr {
    (String::new(), 0)
}

impl RedisClient {
    /// A client for `url` (standalone), or for the cluster whose seed
    /// nodes `url` lists (`cluster`).
    pub(super) fn new(
        url: &str,
        cluster: bool,
        timeout: Duration,
        tls: Option<&crate::tls::RedisTls>,
    ) -> Result<Self, redis::RedisError> {
        let (seed, map) = if cluster {
            let seeds = super::cluster::seeds(url)
                .into_iter()
                .map(|u| crate::tls::redis_client(u, tls))
                .collect::<Result<Vec<_>, _>>()?;
            let seed = seeds.first().cloned().ok_or_else(|| {
                redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "no URL"))
            })?;
            (seed, Some(ClusterMap::new(seeds)))
        } else {
            (crate::tls::redis_client(url, tls)?, None)
        };
        if map.is_some() && seed.get_connection_info().redis_settings().db() != 0 {
            return Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "a Redis Cluster has only database 0",
            )));
        }
        Ok(RedisClient {
            seed,
            map,
            nodes: Mutex::new(HashMap::new()),
            timeout,
        })
    }

    /// A client to subscribe through: the server, or on a cluster the next
    /// node of the map (messages published anywhere reach every node), so
    /// a subscription lost with its node comes back on another.
    pub(crate) fn subscriber(&self) -> redis::Client {
        self.map
            .as_ref()
            .and_then(|m| m.next_node())
            .and_then(|addr| self.client_for(&addr).ok())
            .unwrap_or_else(|| self.seed.clone())
    }

    /// A client to subscribe to `channel` through: on a cluster, the
    /// master a publish on `channel` goes to, so the receivers it counts
    /// include this subscriber.
    pub(crate) async fn subscriber_for(
        &self,
        channel: &str,
        counters: &CacheCounters,
    ) -> redis::Client {
        match &self.map {
            Some(map) => match map.master(self, counters, channel).await {
                Some(addr) => self.client_for(&addr).unwrap_or_else(|_| self.seed.clone()),
                None => self.seed.clone(),
            },
            None => self.seed.clone(),
        }
    }

    /// Whether this is a Redis Cluster's client.
    pub(crate) fn is_cluster(&self) -> bool {
        self.map.is_some()
    }

    /// The bound on one Redis call.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    fn each_node<T>(&self, f: impl Fn(&Node) -> Option<T>) -> Option<T> {
        let nodes = self.nodes.lock().ok()?;
        nodes.values().find_map(|n| f(n))
    }

    /// True while some node's breaker refuses calls.
    pub(crate) fn is_open(&self) -> bool {
        self.each_node(|n| n.breaker.is_open().then_some(()))
            .is_some()
    }

    /// Why Redis last failed, since it last answered (on a cluster, the
    /// first node that failed, named, or why the map could not be read).
    pub(crate) fn last_cause(&self) -> Option<String> {
        let node = self.each_node(|n| {
            let cause = n.breaker.last_cause()?;
            Some(match &self.map {
                Some(_) => format!("{}:{}: {cause}", n.addr.0, n.addr.1),
                None => cause,
            })
        });
        node.or_else(|| self.map.as_ref()?.last_cause())
    }

    /// The masters of the cluster (refreshing the map if it is unknown),
    /// or the server.
    pub(crate) async fn masters(&self, counters: &CacheCounters) -> Vec<Addr> {
        match &self.map {
            Some(map) => map.masters(self, counters).await,
            None => vec![standalone()],
        }
    }

    /// The client of the node at `addr`: the seed's settings, another host.
    pub(super) fn client_for(&self, addr: &Addr) -> redis::RedisResult<redis::Client> {
        let info = self.seed.get_connection_info().clone();
        let (host, port) = addr.clone();
        let target = match info.addr() {
            redis::ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => redis::ConnectionAddr::TcpTls {
                host,
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => redis::ConnectionAddr::Tcp(host, port),
        };
        redis::Client::open(info.set_addr(target))
    }

    /// The node a call on `route` goes to.
    async fn node(&self, route: Route<'_>, counters: &CacheCounters) -> Option<Arc<Node>> {
        let addr = match (&self.map, route) {
            (None, _) => standalone(),
            (Some(_), Route::Node(addr)) => addr.clone(),
            (Some(map), Route::Key(key)) => map.master(self, counters, key).await?,
        };
        let mut nodes = self.nodes.lock().ok()?;
        if let Some(node) = nodes.get(&addr) {
            return Some(node.clone());
        }
        let client = match &self.map {
            None => self.seed.clone(),
            Some(_) => self.client_for(&addr).ok()?,
        };
        let server = match (&self.map, client.get_connection_info().addr()) {
            (None, redis::ConnectionAddr::Tcp(host, port))
            | (None, redis::ConnectionAddr::TcpTls { host, port, .. }) => (host.clone(), *port),
            (None, redis::ConnectionAddr::Unix(path)) => (path.display().to_string(), 0),
            _ => addr.clone(),
        };
        let node = Arc::new(Node {
            server,
            addr: addr.clone(),
            client,
            breaker: Breaker::new(3, Duration::from_millis(500)),
            conn: Mutex::new(None),
        });
        nodes.insert(addr, node.clone());
        Some(node)
    }

    /// A connection to the node `route` names, if its breaker allows a
    /// call and it can be reached.
    pub(super) async fn checkout(
        &self,
        counters: &CacheCounters,
        route: Route<'_>,
    ) -> Option<Checkout> {
        let node = self.node(route, counters).await?;
        if !node.breaker.allow() {
            // The slot may have a new master by now.
            self.stale();
            return None;
        }
        let probe = (node.breaker.state() == BreakerState::HalfOpen).then(|| Probe(node.clone()));
        if let Some(slot) = node.conn.lock().ok().and_then(|c| c.clone()) {
            return Some(Checkout {
                conn: slot.conn,
                node,
                probe,
                id: slot.id,
                verified: slot.verified,
            });
        }
        match self.connect(&node.client).await {
            Ok(mut conn) => {
                if self.map.is_none()
                    && let Some(cause) =
                        super::cluster::not_standalone(&mut conn, self.timeout).await
                {
                    self.failed(&node, counters, cause);
                    return None;
                }
                let id = rand::random();
                if let Ok(mut slot) = node.conn.lock() {
                    *slot = Some(Slot {
                        conn: conn.clone(),
                        id,
                        verified: None,
                    });
                }
                Some(Checkout {
                    conn,
                    node,
                    probe,
                    id,
                    verified: None,
                })
            }
            Err(cause) => {
                self.failed(&node, counters, cause);
                self.stale();
                None
            }
        }
    }

    /// Records that connection `id` of `node` was verified under `epoch`.
    pub(super) fn verified(&self, node: &Node, id: u64, epoch: u64) {
        if let Ok(mut slot) = node.conn.lock()
            && let Some(slot) = slot.as_mut().filter(|s| s.id == id)
        {
            slot.verified = Some(epoch);
        }
    }

    /// Runs one command (on a connection of `node`) with the timeout,
    /// feeding that node's breaker; `_probe` is the checkout's guard, held
    /// until the verdict. `None` when Redis is unavailable (I/O error,
    /// timeout), `Some(Err)` when Redis answered with an error (the
    /// connection is fine; a redirect also marks the cluster map stale).
    pub(super) async fn run<T>(
        &self,
        op: &'static str,
        node: &Node,
        _probe: Option<Probe>,
        counters: &CacheCounters,
        command: impl Future<Output = redis::RedisResult<T>>,
    ) -> Option<redis::RedisResult<T>> {
        let span = tracing::info_span!(
            "redis",
            otel.name = op,
            db.system.name = "redis",
            db.operation.name = op,
            server.address = %node.server.0,
            server.port = node.server.1,
            error.type = tracing::field::Empty,
        );
        let bounded = tokio::time::timeout(self.timeout, command);
        let outcome = if span.is_disabled() {
            bounded.await
        } else {
            let outcome = tracing::Instrument::instrument(bounded, span.clone()).await;
            let error = match &outcome {
                Ok(Ok(_)) => None,
                Ok(Err(err)) => Some(err.code().unwrap_or("io").to_owned()),
                Err(_) => Some("timeout".to_owned()),
            };
            if let Some(error) = error {
                span.record("error.type", error.as_str());
            }
            outcome
        };
        match outcome {
            Ok(Ok(value)) => {
                node.breaker.success();
                Some(Ok(value))
            }
            Ok(Err(err))
                if !(err.is_io_error()
                    || err.is_timeout()
                    || err.is_connection_dropped()
                    || err.is_connection_refusal()) =>
            {
                // Redis answered (WRONGTYPE, a script error, a redirect):
                // not an outage.
                node.breaker.success();
                bump(&counters.redis_errors);
                if super::cluster::is_redirect(&err) {
                    self.stale();
                }
                Some(Err(err))
            }
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "redis call failed; falling through");
                self.lost(node, counters, format!("call failed: {err}"));
                None
            }
            Err(_) => {
                tracing::debug!("redis call timed out; falling through");
                self.lost(
                    node,
                    counters,
                    format!("no answer within {:?}", self.timeout),
                );
                None
            }
        }
    }

    /// The cluster map may be out of date: read it again (soon).
    fn stale(&self) {
        if let Some(map) = &self.map {
            map.stale();
        }
    }

    /// A connect or call failed: feeds the breaker with the cause, which
    /// health reports, and logs it when it differs from the last one (so
    /// an outage logs once, not once per call).
    fn failed(&self, node: &Node, counters: &CacheCounters, cause: String) {
        bump(&counters.redis_errors);
        let err: Box<dyn std::error::Error + Send + Sync> = cause.into();
        if node.breaker.failure(&*err).as_deref() != Some(&err.to_string()) {
            tracing::warn!(
                error = %err,
                node = %format!("{}:{}", node.addr.0, node.addr.1),
                "redis failed; cached reads fall through to postgres"
            );
        }
    }

    /// An I/O failure or timeout: feed the breaker and drop the connection,
    /// so the next call connects afresh instead of reusing one that may be
    /// stalled or half-closed.
    pub(super) fn lost(&self, node: &Node, counters: &CacheCounters, cause: String) {
        self.failed(node, counters, cause);
        self.stale();
        if let Ok(mut slot) = node.conn.lock() {
            *slot = None;
        }
    }
}
