//! The in-process tier: a bounded moka cache of decoded values.
//!
//! Values are stored decoded (`Arc<dyn Any>`), so an L1 hit is a hash
//! lookup and a clone, with no deserialization. Without the `moka`
//! feature `L1` is uninhabited: `Cache::l1` is always `None`, and the
//! paths that use it compile unchanged.

#[cfg(feature = "moka")]
use std::any::Any;
#[cfg(feature = "moka")]
use std::sync::Arc;
use std::time::Duration;
#[cfg(feature = "moka")]
use std::time::Instant;

#[cfg(feature = "moka")]
use moka::Expiry;

#[cfg(feature = "moka")]
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) value: Arc<dyn Any + Send + Sync>,
    ttl: Duration,
}

#[cfg(feature = "moka")]
struct PerEntryTtl;

#[cfg(feature = "moka")]
impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

#[cfg(feature = "moka")]
pub(crate) struct L1 {
    cache: moka::sync::Cache<String, Entry>,
}

/// No in-process tier: a value of this type cannot exist.
#[cfg(not(feature = "moka"))]
pub(crate) enum L1 {}

/// The L1 key of one row under a row generation. `get_or_load` formats
/// the same text straight from the key (`{table}|r{gen}|{key:?}`), and
/// cached lists use `{table}|q{write gen}|{query id}`.
pub(crate) fn row_key(table: &str, row_gen: u64, row: &str) -> String {
    format!("{table}|r{row_gen}|{row}")
}

#[cfg(feature = "moka")]
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

#[cfg(not(feature = "moka"))]
impl L1 {
    pub(crate) fn get<T: Clone + 'static>(&self, _: &str) -> Option<T> {
        match *self {}
    }

    pub(crate) fn insert<T: Send + Sync + 'static>(&self, _: String, _: T, _: Duration) {
        match *self {}
    }

    pub(crate) fn remove(&self, _: &str) {
        match *self {}
    }

    pub(crate) fn clear(&self) {
        match *self {}
    }
}
