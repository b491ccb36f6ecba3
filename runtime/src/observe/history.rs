//! Bounded ring buffers of recent and slow statements.
//!
//! Each slot has its own mutex and writers only `try_lock` theirs: a query
//! never waits on another to record itself (on contention the record is
//! dropped, which a "recent queries" view can afford).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

/// One executed statement.
#[derive(Debug, Clone, Serialize)]
pub struct QueryRecord {
    /// Position in the stream of recorded statements.
    pub seq: u64,
    /// The SQL text (parameters are never recorded).
    pub sql: String,
    /// Wall time from send to result.
    #[serde(serialize_with = "micros")]
    pub duration: Duration,
    /// Rows returned or affected.
    pub rows: u64,
    /// Whether it succeeded.
    pub ok: bool,
    /// When it finished.
    pub at: crate::Timestamp,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[derive(Debug)]
pub(crate) struct Ring {
    slots: Box<[Mutex<Option<Slot>>]>,
    next: AtomicU64,
}

/// A [`QueryRecord`] as stored: the time as `SystemTime`, turned into a
/// calendar time only when read (that costs more than the clock read).
#[derive(Debug, Clone)]
struct Slot {
    seq: u64,
    sql: String,
    duration: Duration,
    rows: u64,
    ok: bool,
    at: std::time::SystemTime,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Self {
        Ring {
            slots: (0..capacity.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicU64::new(0),
        }
    }

    /// Records a statement. The slot's SQL buffer is reused, so once the
    /// ring has gone round, recording allocates nothing.
    pub(crate) fn push(&self, sql: &str, duration: Duration, rows: u64, ok: bool) {
        let seq = self.next.fetch_add(1, Relaxed);
        let len = self.slots.len() as u64;
        let idx = usize::try_from(seq % len).unwrap_or(0);
        let Ok(mut slot) = self.slots[idx].try_lock() else {
            return;
        };
        let at = std::time::SystemTime::now();
        match &mut *slot {
            Some(record) => {
                record.sql.clear();
                record.sql.push_str(sql);
                record.seq = seq;
                record.duration = duration;
                record.rows = rows;
                record.ok = ok;
                record.at = at;
            }
            empty => {
                *empty = Some(Slot {
                    seq,
                    sql: sql.to_owned(),
                    duration,
                    rows,
                    ok,
                    at,
                });
            }
        }
    }

    /// The records held, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<QueryRecord> {
        let mut out: Vec<QueryRecord> = self
            .slots
            .iter()
            .filter_map(|s| s.lock().ok().and_then(|s| s.clone()))
            .map(|s| QueryRecord {
                seq: s.seq,
                sql: s.sql,
                duration: s.duration,
                rows: s.rows,
                ok: s.ok,
                at: s.at.into(),
            })
            .collect();
        out.sort_by_key(|r| r.seq);
        out
    }
}
