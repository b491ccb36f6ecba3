//! Integration tests against real PostgreSQL (and Redis). One binary, one
//! module per area, so the dependency tree links once.

mod errors;
mod migrate;
mod pool;
mod tx;
