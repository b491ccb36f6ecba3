//! The replicas' I/O: their pools, the check at connect time and the loop
//! that keeps each one's state and replay position current (the state
//! machine and the routing rule are `crate::replica`'s).
//!
//! Every interval the loop reads the primary's WAL insert position, paired
//! with the write epoch read just before it, and each replica's
//! `pg_is_in_recovery()` and replay position (the replicas at once, after the
//! primary, so this round's sample can credit them). The round trips
//! are counted as kind `replica_check`; a replica that fails one is down
//! until one succeeds.

use std::sync::{Arc, Weak};
use std::time::Duration;

use deadpool_postgres::{Object, Pool, PoolError, TimeoutType};

use super::{Db, Inner};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::observe::counters::RoundTrip;
use crate::pipeline::round_trip::round_trip;
use crate::replica::{Replica, ReplicaState, Replicas};

const PRIMARY_POSITION: &str = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8";
const REPLICA_POSITION: &str =
    "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8";

/// A pool for each configured replica (none is connected yet).
pub(super) fn open(config: &Config) -> Result<Replicas> {
    let mut members = Vec::with_capacity(config.replicas.urls.len());
    for i in 0..config.replicas.urls.len() {
        let own = config.for_replica(i)?;
        members.push(Replica::new(endpoint(&own), super::build_pool(&own)?));
    }
    Ok(Replicas::new(members, &config.replicas))
}

/// `host:port` of `config` (its `Display` is `postgres://user@host:port/db`).
fn endpoint(config: &Config) -> String {
    let url = config.to_string();
    let after_user = url.split_once('@').map_or(url.as_str(), |(_, rest)| rest);
    after_user
        .rsplit_once('/')
        .map_or(after_user, |(server, _)| server)
        .to_owned()
}

/// A connection to `replica` for one read, or `None` for the primary:
/// its pool is full (the read spills over rather than queue), or the
/// connect failed (it is down until a check succeeds).
pub(super) async fn checkout(replica: &Replica) -> Option<Object> {
    let now = deadpool_postgres::Timeouts {
        wait: Some(Duration::ZERO),
        ..replica.pool.timeouts()
    };
    match replica.pool.timeout_get(&now).await {
        Ok(conn) => {
            replica.served();
            Some(conn)
        }
        Err(PoolError::Timeout(TimeoutType::Wait)) => None,
        Err(err) => {
            replica.failed(&err);
            None
        }
    }
}

/// What one check of a server found.
enum Found {
    /// In recovery (or not), replayed / written up to this position.
    Position { in_recovery: bool, lsn: Option<i64> },
    /// Every connection of its pool was busy: no news, not a failure.
    Busy,
    /// No connection, or no answer.
    Failed(Error),
}

/// How long one check may take: the connect timeout, but at most half the
/// lag bound, so that one replica that does not answer cannot hold a round
/// (and every other replica's credit) past `max_lag`.
fn check_bound(inner: &Inner) -> Duration {
    let half_lag = inner.config.replicas.max_lag / 2;
    inner
        .config
        .get_connect_timeout()
        .min(half_lag.max(Duration::from_millis(50)))
}

/// One round trip of `sql` on a connection from `pool`, bounded by
/// [`check_bound`]; a connection that failed it is thrown away.
async fn ask(inner: &Inner, pool: &Pool, sql: &str) -> Found {
    let bound = check_bound(inner);
    let timeouts = deadpool_postgres::Timeouts {
        wait: Some(bound),
        create: Some(bound),
        recycle: None,
    };
    let conn: Object = match pool.timeout_get(&timeouts).await {
        Ok(conn) => conn,
        Err(PoolError::Timeout(TimeoutType::Wait)) => return Found::Busy,
        Err(PoolError::Timeout(_)) => {
            return Found::Failed(Error::Timeout {
                kind: crate::error::TimeoutKind::Connect,
                source: None,
            });
        }
        Err(e) => {
            return Found::Failed(Error::Connection {
                source: e.to_string().into(),
            });
        }
    };
    let sent = round_trip(
        (&inner.counters, &inner.target),
        RoundTrip::ReplicaCheck,
        sql,
        Some(bound),
        conn.simple_query(sql),
    )
    .await;
    let rows = match sent {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => {
            drop(Object::take(conn));
            return Found::Failed(Error::from_pg(e));
        }
        Err(e) => {
            drop(Object::take(conn));
            return Found::Failed(e);
        }
    };
    let row = rows.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let Some(row) = row else {
        return Found::Failed(Error::Connection {
            source: "the position query returned no row".into(),
        });
    };
    let (in_recovery, lsn) = match row.len() {
        1 => (false, row.get(0)),
        _ => (row.get(0) == Some("t"), row.get(1)),
    };
    Found::Position {
        in_recovery,
        lsn: lsn.and_then(|v| v.parse().ok()),
    }
}

/// Checks replica `i` once and records what it found.
async fn check(inner: &Inner, replicas: &Replicas, i: usize) -> Found {
    let replica = &replicas.members[i];
    let found = ask(inner, &replica.pool, REPLICA_POSITION).await;
    match &found {
        Found::Position {
            in_recovery: false, ..
        } => replica.not_a_replica(),
        Found::Position {
            in_recovery: true,
            lsn,
        } => replicas.replayed(i, lsn.map_or(0, |v| u64::try_from(v).unwrap_or(0))),
        Found::Failed(err) => replica.failed(&crate::error::chain(err)),
        Found::Busy => {}
    }
    found
}

/// One round: the primary's position, then every replica, concurrently.
async fn round(inner: &Inner) {
    let replicas = &inner.replicas;
    let primary = async {
        let started = replicas.begin_sample();
        if let Found::Position { lsn: Some(lsn), .. } =
            ask(inner, &inner.pool, PRIMARY_POSITION).await
        {
            replicas.sampled(started, u64::try_from(lsn).unwrap_or(0));
        }
    };
    // The primary's sample first, so a replica compared in this round can
    // be credited with it.
    primary.await;
    let each = (0..replicas.members.len()).map(|i| check(inner, replicas, i));
    futures_util::future::join_all(each).await;
}

/// At connect time: one round, bounded by the connect timeout. A replica
/// that does not answer is reported down and the handle starts on the
/// primary; one that answers but is not in recovery is refused.
pub(super) async fn first_check(db: &Db) -> Result<()> {
    let inner = &*db.inner;
    if !inner.replicas.any() {
        return Ok(());
    }
    round(inner).await;
    for r in &inner.replicas.members {
        match r.state() {
            ReplicaState::NotAReplica => {
                return Err(Error::Config {
                    var: "DB_REPLICA_URLS",
                    reason: format!(
                        "{} is not in recovery (pg_is_in_recovery() is false): it is a \
                         primary, not a streaming replica, and reads sent there could miss \
                         writes made here",
                        r.name
                    ),
                });
            }
            ReplicaState::Down => tracing::warn!(
                replica = %r.name,
                "read replica unreachable at startup; reads go to the primary until it answers"
            ),
            _ => {}
        }
    }
    Ok(())
}

/// The check loop, until the pool closes or the `Db` is dropped.
pub(super) async fn watch(inner: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner): Option<Arc<Inner>> = inner.upgrade() else {
            return;
        };
        if inner.pool.is_closed() {
            return;
        }
        round(&inner).await;
    }
}
