//! The benchmark table: schema `strata_bench`, recreated on every run, with
//! [`SEED_ROWS`](crate::harness::SEED_ROWS) rows. Shared with the peers
//! binary through `#[path]`.

use tokio_postgres::NoTls;

use crate::harness::{ACCOUNT_ROWS, BoxError, SEED_ROWS, TENANTS};

/// The database URL: `DATABASE_URL`, or the local test database.
pub(crate) fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Drops and recreates schema `strata_bench`, creates `bench_users` and
/// `bench_accounts` with their indexes and fills them.
///
/// `bench_accounts` is the realistic shape (issue 14): ten columns, four of
/// them nullable. Within each tenant, `status` cycles through the four
/// [`STATUSES`](crate::harness::STATUSES), `nickname` is NULL in half the
/// rows, `last_login_at` in three of ten, and one row in 19 is
/// soft-deleted (`deleted_at` set; the fourth, 23rd, .. newest).
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
                 ON strata_bench.bench_users (tenant_id, created_at DESC);
             CREATE {unlogged} TABLE strata_bench.bench_accounts (
                 id bigserial PRIMARY KEY,
                 tenant_id int NOT NULL,
                 email text NOT NULL,
                 name text NOT NULL,
                 status text NOT NULL,
                 age int NOT NULL,
                 nickname text,
                 last_login_at timestamptz,
                 created_at timestamptz NOT NULL DEFAULT now(),
                 deleted_at timestamptz);
             INSERT INTO strata_bench.bench_accounts
                 (tenant_id, email, name, status, age, nickname, last_login_at,
                  created_at, deleted_at)
             SELECT g % {TENANTS}, 'acct' || g || '@bench.example', 'Account ' || g,
                    (ARRAY['active', 'pending', 'suspended', 'closed'])[1 + (g / {TENANTS}) % 4],
                    g % 90,
                    CASE WHEN g % 2 = 0 THEN NULL ELSE 'nick ' || g END,
                    CASE WHEN g % 10 < 3 THEN NULL
                         ELSE now() - (g % 5000) * interval '1 minute' END,
                    now() - g * interval '1 second',
                    CASE WHEN (g / {TENANTS}) % 19 = 3 THEN now() - interval '1 day' END
             FROM generate_series(1, {ACCOUNT_ROWS}) AS g;
             CREATE INDEX bench_accounts_tenant_created
                 ON strata_bench.bench_accounts (tenant_id, created_at DESC);"
        ))
        .await?;
    // Outside the implicit transaction of the batch above.
    client
        .batch_execute("VACUUM ANALYZE strata_bench.bench_users, strata_bench.bench_accounts")
        .await?;
    drop(client);
    conn.await??;
    Ok(())
}
