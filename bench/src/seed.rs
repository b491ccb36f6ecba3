//! The benchmark table: schema `strata_bench`, recreated on every run, with
//! [`SEED_ROWS`](crate::harness::SEED_ROWS) rows. Shared with the peers
//! binary through `#[path]`.

use tokio_postgres::NoTls;

use crate::harness::{BoxError, SEED_ROWS, TENANTS};

/// The database URL: `DATABASE_URL`, or the local test database.
pub(crate) fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Drops and recreates schema `strata_bench`, creates `bench_users` with
/// its index and fills it.
///
/// Unless `logged`, the table is `UNLOGGED`: writes skip the WAL and its
/// fsync, whose latency (milliseconds, and wildly variable while other
/// processes write to the same disk) would otherwise swamp the client-side
/// cost the benchmark compares. Every contender writes the same table.
pub(crate) async fn recreate(url: &str, logged: bool) -> Result<(), BoxError> {
    let unlogged = if logged { "" } else { "UNLOGGED" };
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    let conn = tokio::spawn(conn);
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS strata_bench CASCADE;
             CREATE SCHEMA strata_bench;
             CREATE {unlogged} TABLE strata_bench.bench_users (
                 id bigserial PRIMARY KEY,
                 tenant_id int NOT NULL,
                 email text NOT NULL UNIQUE,
                 name text NOT NULL,
                 age int NOT NULL,
                 active bool NOT NULL,
                 created_at timestamptz NOT NULL DEFAULT now());
             INSERT INTO strata_bench.bench_users (tenant_id, email, name, age, active, created_at)
             SELECT g % {TENANTS}, 'seed' || g || '@bench.example', 'User ' || g, g % 90,
                    g % 2 = 0, now() - g * interval '1 second'
             FROM generate_series(1, {SEED_ROWS}) AS g;
             CREATE INDEX bench_users_tenant_created
                 ON strata_bench.bench_users (tenant_id, created_at DESC);"
        ))
        .await?;
    // Outside the implicit transaction of the batch above.
    client
        .batch_execute("VACUUM ANALYZE strata_bench.bench_users")
        .await?;
    drop(client);
    conn.await??;
    Ok(())
}
