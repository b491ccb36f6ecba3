//! The Redis tier when strata is built without its `redis` feature.
//!
//! `L2` is uninhabited, so `Cache::l2` is always `None` and the read and
//! write paths keep one shape for both builds: every method below is
//! unreachable by construction (`match *self {}`), not by a runtime check.

use std::time::Duration;

use super::{CacheCounters, Invalidation};

/// `(write generation as read, row key prefix)`, as in the Redis build.
pub(crate) type Snap = (u64, String);

type Entry = (String, Option<Vec<u8>>);

/// No Redis tier: a value of this type cannot exist.
#[derive(Debug)]
pub(crate) enum L2 {}

impl L2 {
    pub(crate) fn is_open(&self) -> bool {
        match *self {}
    }

    pub(crate) fn last_cause(&self) -> Option<String> {
        match *self {}
    }

    pub(crate) async fn invalidate(
        &self,
        _: &Invalidation,
        _: Option<Vec<u64>>,
        _: &CacheCounters,
    ) -> bool {
        match *self {}
    }

    pub(crate) async fn get_row(
        &self,
        _: u64,
        _: &str,
        _: &str,
        _: &CacheCounters,
    ) -> Option<Entry> {
        match *self {}
    }

    pub(crate) async fn get_list(
        &self,
        _: u64,
        _: &str,
        _: &str,
        _: &CacheCounters,
    ) -> Option<Entry> {
        match *self {}
    }

    pub(crate) async fn get_rows(
        &self,
        _: u64,
        _: &str,
        _: &[String],
        _: &CacheCounters,
    ) -> Option<(String, Vec<Option<Vec<u8>>>)> {
        match *self {}
    }

    pub(crate) async fn set_rows(
        &self,
        _: &str,
        _: &Snap,
        _: Duration,
        _: &[(String, Vec<u8>)],
        _: &CacheCounters,
    ) -> bool {
        match *self {}
    }

    pub(crate) async fn set_list(
        &self,
        _: &str,
        _: &Snap,
        _: Duration,
        _: (&str, &[u8]),
        _: &CacheCounters,
    ) -> bool {
        match *self {}
    }

    pub(crate) async fn ping(&self, _: &CacheCounters) -> bool {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use crate::cache::{Cache, CacheSettings};

    #[test]
    fn a_redis_url_without_the_feature_is_refused_not_ignored() {
        let config = crate::Config::from_url("postgres://h/db")
            .unwrap()
            .redis_url("redis://127.0.0.1:6379".to_owned());
        let err = Cache::new(CacheSettings::from_config(&config)).unwrap_err();
        assert!(err.to_string().contains("`redis` feature"), "{err}");
        assert!(err.to_string().contains("REDIS_URL"), "{err}");
    }
}
