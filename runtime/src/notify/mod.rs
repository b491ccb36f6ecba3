//! The change feed's engine: one dedicated `LISTEN` connection per
//! [`Db`](crate::Db), shared by every subscription of that handle and by the
//! cache channel, with reconnects and explicit gaps.
//!
//! Why its own connection: a pooled connection is handed to other callers
//! between statements, and notifications arrive only on the session that
//! listens, so they would be read (and dropped) by whoever holds it next;
//! the raw-SQL guard refuses `LISTEN` on `Db` for that reason.
//!
//! The connection is opened on the first subscription (or the first cached
//! read with the cache channel on) and closed when the last subscription
//! is dropped and no cache channel needs it. After any loss it reconnects
//! with backoff, listens again, and only then tells every subscriber `Gap`
//! (and flushes L1), before any new event. The typed face is
//! `crate::changes`; this module knows channels and JSON keys, not models.

mod conn;
mod payload;
mod sub;
mod task;

pub(crate) use payload::{Kind, Raw};
pub(crate) use sub::Subscription;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::cache::Cache;
use crate::error::{Error, Result, TimeoutKind};
use crate::observe::metrics::ChangeMetrics;

/// How long a table without the feed's triggers stays out of L1 before the
/// cache channel looks for them again.
const RECHECK_REFUSED: Duration = Duration::from_secs(10);

/// Turns a key of the payload into the cache's row id (`None`: unknown key
/// type, so the whole table is dropped instead).
pub(crate) type RowIdFn = fn(&serde_json::Value) -> Option<String>;

/// Counters of the listener; read by `db.metrics().changes`.
#[derive(Debug, Default)]
pub(crate) struct FeedCounters {
    notifications: AtomicU64,
    gaps: AtomicU64,
    reconnects: AtomicU64,
    /// The listener's backend pid; 0 while not connected.
    pid: AtomicI32,
    /// Connected, listening on every channel, and L1 flushed after a loss.
    live: AtomicBool,
}

enum Cmd {
    /// Resolve the table's channel, listen, then add the subscriber.
    Subscribe {
        qualified: String,
        done: oneshot::Sender<Result<Subscription>>,
    },
    Unsubscribe {
        channel: String,
        id: u64,
    },
    /// Apply this table's notifications to L1 (the cache channel).
    Watch {
        table: &'static str,
        row_id: RowIdFn,
    },
}

/// The listener of one `Db`: a handle on its task.
pub(crate) struct Hub {
    pg: tokio_postgres::Config,
    tls: crate::tls::TlsSettings,
    connect_timeout: Duration,
    cache: Weak<Cache>,
    counters: FeedCounters,
    /// The running task's command queue; `None` when no task runs.
    cmds: Mutex<Option<mpsc::UnboundedSender<Cmd>>>,
    /// Tables whose notifications reach L1 (only with the cache channel).
    watched: RwLock<HashSet<&'static str>>,
    /// Tables refused by the cache channel (no triggers), and when.
    refused: Mutex<HashMap<&'static str, Instant>>,
    next_id: AtomicU64,
    /// Set by `Db::close`: no listener starts again.
    closed: AtomicBool,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Hub {
    pub(crate) fn new(config: &crate::config::Config, cache: &Arc<Cache>) -> Arc<Hub> {
        Arc::new(Hub {
            pg: config.to_pg(),
            tls: config.tls.clone(),
            connect_timeout: config.get_connect_timeout(),
            cache: Arc::downgrade(cache),
            counters: FeedCounters::default(),
            cmds: Mutex::new(None),
            watched: RwLock::new(HashSet::new()),
            refused: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            closed: AtomicBool::new(false),
        })
    }

    /// Queues `cmd` for the task, starting one if none runs (unless `cmd`
    /// only matters to a running task).
    fn send(self: &Arc<Self>, cmd: Cmd) {
        let Ok(mut slot) = self.cmds.lock() else {
            return;
        };
        let cmd = match slot.as_ref() {
            Some(tx) => match tx.send(cmd) {
                Ok(()) => return,
                Err(mpsc::error::SendError(cmd)) => cmd,
            },
            None => cmd,
        };
        if matches!(cmd, Cmd::Unsubscribe { .. }) || self.closed.load(Ordering::Acquire) {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(cmd);
        *slot = Some(tx);
        tokio::spawn(task::run(Arc::downgrade(self), rx));
    }

    /// Subscribes to the table `qualified` names (resolved with the Db's
    /// `search_path`). Returns once the listener is `LISTEN`ing, so every
    /// write committed after this returns is delivered or followed by `Gap`.
    ///
    /// Returns `Error::Timeout` (kind `Connect`) if the listener cannot
    /// connect within twice the connect timeout, and the database error if
    /// the table does not exist.
    pub(crate) async fn subscribe(self: &Arc<Self>, qualified: &str) -> Result<Subscription> {
        if self.is_closed() {
            return Err(Error::PoolClosed);
        }
        let (done, answer) = oneshot::channel();
        self.send(Cmd::Subscribe {
            qualified: qualified.to_owned(),
            done,
        });
        let bound = self.connect_timeout * 2 + Duration::from_secs(1);
        match tokio::time::timeout(bound, answer).await {
            Ok(Ok(got)) => got,
            Ok(Err(_)) => Err(Error::Connection {
                source: "the change feed's listener stopped".into(),
            }),
            Err(_) => Err(Error::Timeout {
                kind: TimeoutKind::Connect,
                source: None,
            }),
        }
    }

    /// Whether L1 may hold `table`'s rows now: its notifications are being
    /// applied to L1 and the listener is live. The first call for a table
    /// starts watching it and returns false (that read skips the cache).
    pub(crate) fn cache_ready(self: &Arc<Self>, table: &'static str, row_id: RowIdFn) -> bool {
        let watched = self.watched.read().is_ok_and(|w| w.contains(table));
        if watched {
            return self.counters.live.load(Ordering::Acquire);
        }
        let refused = self.refused.lock().is_ok_and(|r| {
            r.get(table)
                .is_some_and(|at| at.elapsed() < RECHECK_REFUSED)
        });
        if !refused {
            self.send(Cmd::Watch { table, row_id });
        }
        false
    }

    /// Stops the listener for good (`Db::close`): its connection closes,
    /// every feed ends (`next` returns `None`) and new ones fail.
    pub(crate) fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        if let Ok(mut slot) = self.cmds.lock() {
            slot.take();
        }
    }

    /// True after [`Hub::shutdown`].
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn metrics(&self) -> ChangeMetrics {
        let c = &self.counters;
        let pid = c.pid.load(Ordering::Relaxed);
        ChangeMetrics {
            notifications: c.notifications.load(Ordering::Relaxed),
            gaps: c.gaps.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            listener_pid: (pid != 0).then_some(pid),
            live: c.live.load(Ordering::Relaxed),
        }
    }
}
