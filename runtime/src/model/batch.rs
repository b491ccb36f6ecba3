//! The pipeline's **batch** stage: concurrent `get`s / `find`s of one model
//! on a [`Db`] are coalesced into one `= ANY($1)` statement.
//!
//! Automatic, and free when alone: each model has a few statement slots
//! (half the pool). A get that finds a slot free and nobody waiting runs its
//! own single-row statement at once, exactly as without batching, so a
//! lone caller pays one mutex and no timer. Only a get that arrives while
//! every slot is busy waits, and all the gets that waited while a slot was
//! busy go out together as one statement when it frees. There is no batch
//! window to tune: the batch is whatever queued behind the statements
//! already in flight, so batching appears exactly when there is load.
//!
//! Each waiter gets its own result: rows are matched to callers by key
//! (one decode per caller), a missing row is that caller's `None`. If the
//! batched statement fails as a whole for a reason that is not its keys'
//! (the pool, the breaker, a bound), every waiter gets that error at once;
//! otherwise every waiter repeats its own single-row get, so each sees its
//! own error. A waiter that is dropped leaves the batch untouched; a flush runs
//! in a task of its own, so no caller's cancellation can strand the others.
//!
//! A burst larger than one batch ([`MAX_BATCH`] keys) goes out as several
//! statements pipelined on one connection. The slots themselves take
//! connections of their own: their statements then run in parallel on
//! several backends, where pipelined on one they would run in turn.
//!
//! Only autocommit reads on `Db` of models without a tenant: inside a
//! transaction statements must run on its connection in order, and a
//! tenant's reads carry its scope.

use std::any::TypeId;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::Model;
use crate::__private::ColumnType;
use crate::cache::Invalidation;
use crate::cache::row_id;
use crate::error::{Error, Result};
use crate::executor::handle::Handle;
use crate::executor::{Executor, OpKind};
use crate::pipeline::conn::Conn;
use crate::pipeline::{Around, run_query};
use crate::pool::Db;

/// Statement slots per model: how many of its gets (or batches of gets)
/// are in flight at once before later ones queue. Half the pool: one
/// model's gets never hold more than half the connections, so writes and
/// other models keep the rest, and a batch forms as soon as the gets
/// outnumber what the server can usefully run at once (measured: on this
/// 2-core machine, 4 slots of a pool of 8 served 64 tasks 1.4x faster than
/// 8 slots, docs/BENCHMARKS.md "Issue 20").
fn slots(db: &Db) -> usize {
    (db.inner.config.pool_max / 2).max(1)
}

/// The largest batch: more waiters go out as several statements,
/// pipelined on one connection.
pub(crate) const MAX_BATCH: usize = 1024;

/// `M`'s lane on `db`, made on first use.
fn lane<M: Model>(db: &Db) -> Arc<Lane<M>> {
    let lanes = &db.inner.batch_lanes;
    let id = TypeId::of::<M>();
    let found = lanes
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&id)
        .cloned();
    let lane = match found {
        Some(lane) => lane,
        None => lanes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_insert_with(|| Arc::new(Lane::<M>::default()))
            .clone(),
    };
    lane.downcast::<Lane<M>>()
        .unwrap_or_else(|_| unreachable!("a lane is stored under its model's TypeId"))
}

/// One model's slots and waiters.
struct Lane<M: Model> {
    state: Mutex<State<M>>,
}

impl<M: Model> Default for Lane<M> {
    fn default() -> Self {
        Lane {
            state: Mutex::new(State {
                busy: 0,
                waiting: Vec::new(),
            }),
        }
    }
}

/// Invariant: `waiting` is non-empty only while every slot is busy.
struct State<M: Model> {
    busy: usize,
    waiting: Vec<Waiter<M>>,
}

struct Waiter<M: Model> {
    key: M::Key,
    answer: oneshot::Sender<Result<Option<M>>>,
}

impl<M: Model> Lane<M> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<M>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A busy slot. Dropping it (the statement answered, failed, or its
/// caller went away) hands the slot to whoever waited, in a task of its
/// own, or frees it.
struct Slot<M: Model> {
    lane: Arc<Lane<M>>,
    db: Db,
}

impl<M: Model> Drop for Slot<M> {
    fn drop(&mut self) {
        let waiting = {
            let mut state = self.lane.lock();
            if state.waiting.is_empty() {
                state.busy -= 1;
                return;
            }
            std::mem::take(&mut state.waiting)
        };
        match tokio::runtime::Handle::try_current() {
            // The slot passes to the flush, still counted busy.
            Ok(rt) => {
                let slot = Slot {
                    lane: self.lane.clone(),
                    db: self.db.clone(),
                };
                drop(rt.spawn(flush(slot, waiting)));
            }
            // No runtime (it is shutting down): the waiters' channels
            // close, and each runs its own statement if it still can.
            Err(_) => {
                drop(waiting);
                let mut state = self.lane.lock();
                state.busy -= 1;
                drop(std::mem::take(&mut state.waiting));
            }
        }
    }
}

/// `M::find(db, key)`, batched with the other gets of `M` in flight on `db`.
pub(crate) async fn find<M: Model>(db: &Db, key: M::Key) -> Result<Option<M>> {
    // A batch runs in whichever task flushes it, so a task whose reads are
    // routed by a scope of its own (`replica::session`, `on_primary`) gets
    // alone, under its own scope.
    if crate::replica::scoped() {
        return super::ops::find_direct::<M, Db>(db, key).await;
    }
    let lane = lane::<M>(db);
    let answer = {
        let mut state = lane.lock();
        if state.waiting.is_empty() && state.busy < slots(db) {
            state.busy += 1;
            None
        } else {
            let (answer, wait) = oneshot::channel();
            state.waiting.push(Waiter {
                key: key.clone(),
                answer,
            });
            Some(wait)
        }
    };
    match answer {
        None => {
            let _slot = Slot {
                lane,
                db: db.clone(),
            };
            super::ops::find_direct::<M, Db>(db, key).await
        }
        Some(wait) => match wait.await {
            Ok(answer) => answer,
            // The flush never ran (the runtime is going away): alone.
            Err(_) => super::ops::find_direct::<M, Db>(db, key).await,
        },
    }
}

/// Runs the waiters' gets as `= ANY($1)` statements, then hands the slot on.
async fn flush<M: Model>(slot: Slot<M>, waiting: Vec<Waiter<M>>) {
    let mut waiting: Vec<Waiter<M>> = waiting
        .into_iter()
        .filter(|w| !w.answer.is_closed())
        .collect();
    let db = &slot.db;
    if waiting.is_empty() {
        return;
    }
    if waiting.len() <= MAX_BATCH {
        answer(db, db, waiting).await;
        return;
    }
    let mut chunks = Vec::new();
    while !waiting.is_empty() {
        let rest = waiting.split_off(waiting.len().min(MAX_BATCH));
        chunks.push(waiting);
        waiting = rest;
    }
    match Pinned::acquire(db).await {
        // Several statements at once on one connection: tokio-postgres
        // pipelines them (one write, answers in order), as a transaction's
        // concurrent statements are.
        Ok(pinned) => {
            let each = chunks.into_iter().map(|c| answer(&pinned, db, c));
            futures_util::future::join_all(each).await;
        }
        Err(_) => {
            for c in chunks {
                answer(db, db, c).await;
            }
        }
    }
}

/// One batch: one statement on `e`, then each waiter's row decoded for
/// it. A waiter left alone (one in the batch, or a failed batch) asks on
/// `db`, with a read's retry on a fresh connection.
async fn answer<M: Model, E: Executor>(e: &E, db: &Db, waiting: Vec<Waiter<M>>) {
    if let [_] = waiting.as_slice() {
        let w = waiting.into_iter().next().expect("one waiter");
        let _ = w
            .answer
            .send(super::ops::find_direct::<M, Db>(db, w.key).await);
        return;
    }
    let keys: Vec<M::Key> = waiting.iter().map(|w| w.key.clone()).collect();
    let keys = super::many::distinct(&keys);
    let param = ColumnType::param_array(&keys);
    let rows = run_query(
        e,
        M::META.sql.find_many,
        &[param],
        OpKind::Read,
        Around::read(M::META.name, false),
    )
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        // The statement failed as a whole. A failure of the pool, the
        // breaker or a bound would fail each waiter's own get the same
        // way: each gets it now, rather than every waiter repeating the
        // wait (and the load) alone. Anything else, each asks alone and
        // gets its own answer or error.
        Err(err) => {
            match same_for_all(&err) {
                Some(same) => {
                    for w in waiting {
                        let _ = w.answer.send(Err(same()));
                    }
                }
                None => alone(db, waiting).await,
            }
            return;
        }
    };
    let by_key = match super::many::by_key::<M>(&rows) {
        Ok(by_key) => by_key,
        // A row whose key does not decode: each caller sees why alone.
        Err(_) => {
            alone(db, waiting).await;
            return;
        }
    };
    let answered = u64::try_from(waiting.len()).unwrap_or(u64::MAX);
    crate::observe::counters::add(&db.inner.counters.gets_batched, answered);
    for w in waiting {
        let found = match by_key.get(&row_id(&w.key)) {
            Some(&i) => M::from_row(&rows[i]).map(Some),
            None => Ok(None),
        };
        let _ = w.answer.send(found);
    }
}

/// For a failure that does not depend on the statement's keys, a maker of
/// the same error for every waiter (the driver's source, which cannot be
/// copied, left out).
fn same_for_all(err: &Error) -> Option<Box<dyn Fn() -> Error + Send>> {
    Some(match err {
        Error::Timeout { kind, .. } => {
            let kind = *kind;
            Box::new(move || Error::Timeout { kind, source: None })
        }
        Error::PoolExhausted { waited } => {
            let waited = *waited;
            Box::new(move || Error::PoolExhausted { waited })
        }
        Error::PoolClosed => Box::new(|| Error::PoolClosed),
        Error::CircuitOpen => Box::new(|| Error::CircuitOpen),
        _ => return None,
    })
}

/// Each waiter runs its own get and gets its own answer (or error).
async fn alone<M: Model>(db: &Db, waiting: Vec<Waiter<M>>) {
    let each = waiting.into_iter().map(|w| async move {
        let _ = w
            .answer
            .send(super::ops::find_direct::<M, Db>(db, w.key).await);
    });
    futures_util::future::join_all(each).await;
}

/// One pooled connection that several batch statements share, sent
/// pipelined. Nothing is retried on it: a failed batch falls back to each
/// waiter's own get. Discarded, not pooled, when it broke or a statement
/// outlived its bound.
struct Pinned {
    db: Db,
    conn: Option<deadpool_postgres::Object>,
    broken: AtomicBool,
}

impl Pinned {
    async fn acquire(db: &Db) -> Result<Pinned> {
        Ok(Pinned {
            db: db.clone(),
            conn: Some(db.acquire().await?),
            broken: AtomicBool::new(false),
        })
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.broken.load(Ordering::Acquire) || conn.is_closed() {
            Conn::Pooled(conn).discard(&self.db);
        }
    }
}

impl Handle for Pinned {
    async fn __conn(&self, _kind: crate::executor::OpKind) -> Result<Conn<'_>> {
        match &self.conn {
            Some(conn) => Ok(Conn::InTx(conn)),
            None => unreachable!("a pinned connection is only taken when dropped"),
        }
    }

    fn __db(&self) -> &Db {
        &self.db
    }

    fn __poison(&self) {
        self.broken.store(true, Ordering::Release);
    }

    // Batches only read.
    async fn __invalidate(&self, _inv: Invalidation) {}
}

impl Executor for Pinned {
    type Scope = crate::tenant::Unscoped;
}
