//! The in-process tier: a bounded moka cache of decoded values.
//!
//! Values are stored decoded (`Arc<dyn Any>`), so an L1 hit is a hash
//! lookup and a clone, with no deserialization.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) value: Arc<dyn Any + Send + Sync>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

pub(crate) struct L1 {
    cache: moka::sync::Cache<String, Entry>,
}

/// The L1 key of one row under a row generation. `get_or_load` formats
/// the same text straight from the key (`{table}|r{gen}|{key:?}`), and
/// cached lists use `{table}|q{write gen}|{query id}`.
pub(crate) fn row_key(table: &str, row_gen: u64, row: &str) -> String {
    format!("{table}|r{row_gen}|{row}")
}

impl L1 {
    pub(crate) fn new(capacity: u64) -> Self {
        L1 {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .expire_after(PerEntryTtl)
                .build(),
        }
    }

    pub(crate) fn get<T: Clone + 'static>(&self, key: &str) -> Option<T> {
        self.cache
            .get(key)
            .and_then(|e| e.value.downcast_ref::<T>().cloned())
    }

    pub(crate) fn insert<T: Send + Sync + 'static>(&self, key: String, value: T, ttl: Duration) {
        self.cache.insert(
            key,
            Entry {
                value: Arc::new(value),
                ttl,
            },
        );
    }

    pub(crate) fn remove(&self, key: &str) {
        self.cache.invalidate(key);
    }

    pub(crate) fn clear(&self) {
        self.cache.invalidate_all();
    }
}
