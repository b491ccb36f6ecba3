//! What a `Db` answers about itself: `db.health()`, `db.prometheus()` and,
//! with the `http` feature, the axum router that serves them
//! (`strata::observe::http`).
//!
//! Why apart from `crate::observe`: these need a live `Db` (a round trip, a
//! Redis ping, the pool), while `observe` holds the counters and snapshot
//! types that the pool itself records into. Keeping them apart keeps the
//! layers one-way: observe → pool → endpoints.

mod health;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub(crate) mod input;
mod prometheus;
#[cfg(feature = "http")]
mod response;
