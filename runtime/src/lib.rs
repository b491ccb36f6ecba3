#![doc = include_str!("../../README.md")]
// docs.rs builds with `--cfg docsrs`: feature-gated items get their badge.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[allow(unused_extern_crates)] // lets the derive's `::strata::` paths resolve in our own tests
extern crate self as strata;

pub mod audit;
mod breaker;
/// axum helpers for handlers (feature `http`): [`Input`](http::Input), a
/// JSON body whose rejections answer in strata's error format. A
/// `strata::Error` itself is an `IntoResponse` (see [`Error::http_status`]);
/// the monitoring routes are [`observe::http`].
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http {
    pub use crate::endpoints::input::Input;
}
pub mod cache;
mod cached;
pub mod changes;
mod config;
mod endpoints;
mod error;
mod executor;
mod jsonb;
pub mod migrate;
mod model;
mod notify;
pub mod observe;
mod pipeline;
mod pool;
pub mod replica;
pub mod retry;
mod row;
pub mod sequence;
pub mod sessions;
mod sql;
pub mod tenant;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod timestamp;
mod tls;
mod tx;
pub mod validate;

pub use breaker::BreakerState;
pub use cache::{CacheMetrics, CacheStore, CachedModelExt, CachedQuery};
pub use config::{Config, Secret, SslMode};
pub use error::{DecodeFailure, Error, ErrorBody, Result, TimeoutKind};
pub use executor::{Executor, OpKind, Params};
pub use model::TextEnum;
pub use model::{
    Assignment, COPY_THRESHOLD, Column, ColumnMeta, Cursor, Filter, Keyset, Model, ModelExt,
    ModelMeta, NewModel, Operand, Order, Page, PatchModel, Query, SetValue, SoftDelete,
    escape_like,
};
pub use model::{BelongsTo, HasMany, Including, LoadOn, Nested, Relation, RelationKey};
pub use observe::counters::{FAILURE_KINDS, ROUND_TRIP_KINDS};
pub use observe::metrics::ChangeMetrics;
pub use observe::{Health, HealthReport, QueryRecord, ServiceHealth};
pub use observe::{Metrics, PoolMetrics, PoolStatus, QueryMetrics, RoundTripMetrics, TxMetrics};
pub use pipeline::stream::{FromRowStream, ModelStream, RowStream};
pub use pool::Db;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub use postgres_types::Json;
pub use row::{FromRow, MissingColumn};
/// `#[strata::test]`: an `async fn` taking the database, run as a test on
/// a fresh schema; see [`testing`].
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use strata_macros::test;
pub use strata_macros::{FromRow, Model, TextEnum};
pub use strata_migrate_macros::embed_migrations;
pub use tenant::{AllTenants, TenantDb, TenantTx};
pub use timestamp::{ParseTimestampError, Timestamp};
pub use tokio_postgres::Row;
pub use tokio_postgres::error::SqlState;
pub use tokio_postgres::types::ToSql;
pub use tx::{IsolationLevel, Tx, TxOptions};
pub use validate::{FieldError, ValidationError, ValidationErrors};

/// Everything an application usually needs: `use strata::prelude::*;`.
pub mod prelude {
    pub use crate::{
        CachedModelExt, Config, Db, Error, Executor, FieldError, FromRow, IsolationLevel, Model,
        ModelExt, NewModel, PatchModel, Result, TenantDb, TenantTx, TextEnum, Tx, TxOptions,
        ValidationError, ValidationErrors,
    };
}

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
