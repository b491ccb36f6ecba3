//! Integration tests against real PostgreSQL (and Redis). One binary, one
//! module per area, so the dependency tree links once.

mod audit;
mod cache;
mod cache_consistency;
mod changes;
mod crud;
mod dealership;
mod drift;
mod errors;
mod errors_more;
mod failures;
mod from_row;
mod http_errors;
mod liveness;
mod loading;
mod migrate;
mod models;
mod observe;
mod pagination;
mod pool;
mod quickstart;
mod raw_guard;
mod redis_cluster;
mod relations;
mod reliability;
mod replicas;
mod sequences;
mod sessions;
mod sql_snapshots;
mod stream;
mod tenancy;
mod text_enum;
mod tls;
mod tx;
mod unix_socket;
mod validate;
