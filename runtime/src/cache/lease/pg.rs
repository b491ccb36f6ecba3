//! The lease's PostgreSQL side: one dedicated connection (not a pooled
//! one: the lease must not wait behind the application's checkouts, and
//! its round trips must not show in the pool's figures), the two tables
//! and the three statements.
//!
//! The tables live in the connection's `current_schema()` (the first
//! schema of `search_path`, as for the application's own tables), keyed by
//! the cache prefix, so processes that share cache keys share rows:
//!
//! ```sql
//! strata_cache_epoch   (prefix text PRIMARY KEY, epoch bigint, redis_run_id text, bumped_at timestamptz)
//! strata_cache_members (prefix text, instance bigint, seen timestamptz, PRIMARY KEY (prefix, instance))
//! strata_cache_redis_nodes (prefix text, node text, identity text, changed bool, PRIMARY KEY (prefix, node))
//! ```
//!
//! The last table is a Redis Cluster's: the identity each node (by its
//! cluster node id) was last seen with.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio_postgres::Client;

/// Creates the tables if they are missing; the advisory lock keeps two
/// processes from racing on the catalog (`CREATE .. IF NOT EXISTS` alone
/// can fail with a unique violation when run concurrently).
const TABLES: &str = "BEGIN;
SELECT pg_advisory_xact_lock(7472617);
CREATE TABLE IF NOT EXISTS strata_cache_epoch (
    prefix text PRIMARY KEY,
    epoch bigint NOT NULL,
    redis_run_id text,
    bumped_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS strata_cache_members (
    prefix text NOT NULL,
    instance bigint NOT NULL,
    seen timestamptz NOT NULL,
    PRIMARY KEY (prefix, instance));
CREATE TABLE IF NOT EXISTS strata_cache_redis_nodes (
    prefix text NOT NULL,
    node text NOT NULL,
    identity text NOT NULL,
    changed boolean NOT NULL DEFAULT true,
    PRIMARY KEY (prefix, node));
COMMIT;";

/// Refreshes this process's membership and reads the epoch and the
/// members seen within `$3` seconds, in one round trip.
const CONFIRM: &str = "WITH me AS (
    INSERT INTO strata_cache_members (prefix, instance, seen) VALUES ($1, $2, now())
    ON CONFLICT (prefix, instance) DO UPDATE SET seen = now())
SELECT coalesce((SELECT epoch FROM strata_cache_epoch WHERE prefix = $1), 0),
       coalesce((SELECT array_agg(instance) FROM strata_cache_members
                 WHERE prefix = $1 AND seen > now() - make_interval(secs => $3)), '{}')";

/// Retires every L2 entry of the prefix: a new epoch.
const BUMP: &str = "INSERT INTO strata_cache_epoch AS e (prefix, epoch) VALUES ($1, 1)
ON CONFLICT (prefix) DO UPDATE SET epoch = e.epoch + 1, bumped_at = now()
RETURNING epoch";

/// The epoch for a Redis whose `run_id` is `$2`: a new one if the last
/// Redis seen was another (or the same one restarted), else the current.
/// The row is updated either way, so two processes checking a new Redis at
/// once both get the epoch the first one bumped to (a `WHERE` that skipped
/// the update would leave the second reading its statement's older
/// snapshot).
const VERIFY: &str =
    "INSERT INTO strata_cache_epoch AS e (prefix, epoch, redis_run_id) VALUES ($1, 1, $2)
ON CONFLICT (prefix) DO UPDATE SET
    epoch = e.epoch + (e.redis_run_id IS DISTINCT FROM $2)::int,
    bumped_at = CASE WHEN e.redis_run_id IS DISTINCT FROM $2 THEN now() ELSE e.bumped_at END,
    redis_run_id = $2
RETURNING epoch";

/// The epoch for cluster node `$2` answering as `$3` (its `run_id` and
/// replication id): a new one if the node is new or was last seen as
/// another identity (restarted, or promoted since), else the current. Both
/// rows are locked in the same order by every caller.
const VERIFY_NODE: &str = "WITH node AS (
    INSERT INTO strata_cache_redis_nodes AS n (prefix, node, identity) VALUES ($1, $2, $3)
    ON CONFLICT (prefix, node) DO UPDATE SET
        changed = n.identity IS DISTINCT FROM $3, identity = $3
    RETURNING changed)
INSERT INTO strata_cache_epoch AS e (prefix, epoch) VALUES ($1, 1)
ON CONFLICT (prefix) DO UPDATE SET
    epoch = e.epoch + (SELECT changed FROM node)::int,
    bumped_at = CASE WHEN (SELECT changed FROM node) THEN now() ELSE e.bumped_at END
RETURNING epoch";

/// A process that closes leaves: writers stop waiting for it at once.
const LEAVE: &str = "DELETE FROM strata_cache_members WHERE prefix = $1 AND instance = $2";

/// Members whose row is older than this are deleted when the link connects.
const FORGET_AFTER: &str = "DELETE FROM strata_cache_members
WHERE prefix = $1 AND seen < now() - interval '1 hour'";

/// The dedicated connection, opened on first use and again after a failure.
pub(crate) struct Link {
    config: tokio_postgres::Config,
    /// The pool's TLS: the lease's connection is as protected as the pool's.
    tls: crate::tls::TlsSettings,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
    prefix: String,
    instance: i64,
    /// Bound on one statement (connecting included).
    timeout: Duration,
}

type PgResult<T> = Result<T, String>;

impl Link {
    pub(crate) fn new(
        config: tokio_postgres::Config,
        tls: crate::tls::TlsSettings,
        prefix: String,
        instance: u64,
    ) -> Link {
        let timeout = config
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(2));
        Link {
            config,
            tls,
            client: tokio::sync::Mutex::new(None),
            prefix,
            // The id's bits, as PostgreSQL's bigint holds them.
            instance: i64::from_ne_bytes(instance.to_ne_bytes()),
            timeout,
        }
    }

    /// This process's id as the members table holds it.
    pub(crate) fn instance(&self) -> u64 {
        u64::from_ne_bytes(self.instance.to_ne_bytes())
    }

    /// The connection, opening it (and the tables) if needed.
    async fn client(&self) -> PgResult<Arc<Client>> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(client.clone());
        }
        let open = async {
            let (client, mut messages) = crate::tls::connect(&self.config, &self.tls)
                .await
                .map_err(|e| e.to_string())?;
            // Polling the messages drives the connection.
            tokio::spawn(async move { while messages.next().await.is_some() {} });
            client
                .batch_execute(TABLES)
                .await
                .map_err(|e| e.to_string())?;
            client
                .execute(FORGET_AFTER, &[&self.prefix])
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(client)
        };
        let client = match tokio::time::timeout(self.timeout, open).await {
            Ok(Ok(client)) => Arc::new(client),
            Ok(Err(err)) => return Err(format!("cannot open the cache lease connection: {err}")),
            Err(_) => return Err("the cache lease connection timed out".into()),
        };
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Drops the connection after a failure, so the next call reconnects.
    async fn reset(&self) {
        *self.client.lock().await = None;
    }

    /// Runs `f` on the connection, bounded; a failure resets it.
    async fn run<T, F, Fut>(&self, f: F) -> PgResult<T>
    where
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let client = self.client().await?;
        let result = match tokio::time::timeout(self.timeout, f(client)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(err)) => Err(format!("cache lease statement failed: {err}")),
            Err(_) => Err("cache lease statement timed out".into()),
        };
        if result.is_err() {
            self.reset().await;
        }
        result
    }

    /// Refreshes membership; returns the epoch and the live members
    /// (seen within `window`), this process included.
    pub(crate) async fn confirm(&self, window: Duration) -> PgResult<(u64, Vec<u64>)> {
        let secs = window.as_secs_f64();
        let row = self
            .run(|c| async move {
                c.query_one(CONFIRM, &[&self.prefix, &self.instance, &secs])
                    .await
            })
            .await?;
        let epoch: i64 = row.get(0);
        let ids: Vec<i64> = row.get(1);
        let mut members: Vec<u64> = ids
            .into_iter()
            .map(|i| u64::from_ne_bytes(i.to_ne_bytes()))
            .collect();
        if !members.contains(&self.instance()) {
            members.push(self.instance());
        }
        Ok((u64::try_from(epoch).unwrap_or(0), members))
    }

    /// Removes this process from the members (it is closing).
    pub(crate) async fn leave(&self) {
        let _ = self
            .run(|c| async move { c.execute(LEAVE, &[&self.prefix, &self.instance]).await })
            .await;
    }

    /// A new epoch; returns it.
    pub(crate) async fn bump(&self) -> PgResult<u64> {
        let row = self
            .run(|c| async move { c.query_one(BUMP, &[&self.prefix]).await })
            .await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// The epoch under which a Redis with this `run_id` (or, on a
    /// cluster, `node` with this identity) may be read.
    pub(crate) async fn verify(&self, node: Option<&str>, id: &str) -> PgResult<u64> {
        let row = self
            .run(|c| async move {
                match node {
                    Some(node) => c.query_one(VERIFY_NODE, &[&self.prefix, &node, &id]).await,
                    None => c.query_one(VERIFY, &[&self.prefix, &id]).await,
                }
            })
            .await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }
}
