//! Round trips on a connection the caller already holds: transaction
//! control (`BEGIN`, `COMMIT`, `ROLLBACK`, savepoints), the session probe,
//! migrations and the breaker's probe.
//!
//! They skip the stages that belong to a statement on its own (acquire,
//! retry: the caller owns the connection and decides what a failure means)
//! but share the rest with every statement: the **send** stage's
//! client-side bound and the **observe** stage's span and counters, so each
//! shows up in traces and in `strata_round_trips_total{kind}`.

use std::future::Future;
use std::time::Duration;

use futures_util::future::Either;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};
use tracing::Instrument;

use super::send::bounded;
use crate::error::Error;
use crate::observe::counters::{Counters, RoundTrip};
use crate::pool::Db;

type PgResult<T> = std::result::Result<T, tokio_postgres::Error>;

/// Where a handle's statements go, as spans name it: OpenTelemetry's
/// `server.address`, `server.port` and `db.namespace`, formatted once.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    address: String,
    port: u16,
    namespace: String,
}

impl Target {
    pub(crate) fn of(config: &crate::config::Config) -> Target {
        let (address, port) = config.endpoint();
        Target {
            address,
            port,
            namespace: config.get_dbname().to_owned(),
        }
    }
}

/// The span every round trip is recorded under, with OpenTelemetry's
/// stable database names (semantic conventions 1.26+): `db.system.name`,
/// `db.query.text`, `db.operation.name`, `db.collection.name` (the table a
/// statement names first, when there is one), `db.namespace`,
/// `server.address`, `server.port`, and `error.type` once it failed (see
/// [`failed`]). `otel.name` is the span's name for OpenTelemetry exporters
/// (`tracing-opentelemetry` reads it): `{operation} {collection}`.
/// `strata.round_trip` says what it carries. The tracing name itself must
/// be static, so it stays `db.statement`.
///
/// Field values are computed only when a subscriber wants the span.
pub(crate) fn span(target: &Target, sql: &str, kind: RoundTrip) -> tracing::Span {
    // Every value is an expression inside the macro: with no subscriber
    // the macro evaluates none of them, so a statement pays no lexing.
    tracing::info_span!(
        "db.statement",
        otel.name = %SpanName(sql),
        db.system.name = "postgresql",
        db.query.text = sql,
        db.operation.name = crate::sql::operation(sql),
        db.collection.name = crate::sql::collection(sql),
        db.namespace = target.namespace.as_str(),
        server.address = target.address.as_str(),
        server.port = target.port,
        error.type = tracing::field::Empty,
        strata.round_trip = kind.label(),
    )
}

/// `{operation} {collection}` of a statement, or the operation alone.
struct SpanName<'a>(&'a str);

impl std::fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let operation = crate::sql::operation(self.0);
        match crate::sql::collection(self.0) {
            "" => f.write_str(operation),
            c => write!(f, "{operation} {c}"),
        }
    }
}

/// Records `err`'s kind (a `strata_queries_failed_total` label) as the
/// span's `error.type`.
pub(crate) fn failed(span: &tracing::Span, err: &Error) {
    if !span.is_disabled() {
        span.record("error.type", crate::observe::counters::failure_label(err));
    }
}

/// `fut` in the span of a round trip of `sql`.
///
/// A plain function returning either future, not an `async fn`: an async
/// fn would keep `fut` as its argument next to the future it awaits, and
/// double the size of every statement's state machine.
pub(crate) fn traced<F: Future>(
    target: &Target,
    sql: &str,
    kind: RoundTrip,
    fut: F,
) -> Either<F, tracing::instrument::Instrumented<F>> {
    let span = span(target, sql, kind);
    // Entering and leaving a span nobody listens to, on every poll, is pure
    // overhead: instrument only when a subscriber wants the span.
    if span.is_disabled() {
        Either::Left(fut)
    } else {
        Either::Right(fut.instrument(span))
    }
}

/// Runs `fut` (one round trip of `sql`) under `bound`, in its span, and
/// counts it. The outer `Err` is the client-side bound; the inner one the
/// driver's error, for the caller to classify.
pub(crate) async fn round_trip<T>(
    (counters, target): (&Counters, &Target),
    kind: RoundTrip,
    sql: &str,
    bound: Option<Duration>,
    fut: impl Future<Output = PgResult<T>>,
) -> std::result::Result<PgResult<T>, Error> {
    let result = traced(target, sql, kind, bounded(bound, fut)).await;
    counters.round_trip(kind, matches!(result, Ok(Ok(_))));
    result
}

/// A connection held for a migration run: each call is one counted,
/// traced round trip of kind `migration`. Unbounded on the client: a
/// migration may legitimately run for hours (the lock's own session sets
/// `statement_timeout = 0`).
#[derive(Clone, Copy)]
pub(crate) struct Link<'a> {
    client: &'a Client,
    db: &'a Db,
}

impl std::fmt::Debug for Link<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").finish_non_exhaustive()
    }
}

impl<'a> Link<'a> {
    /// Wraps a connection `db`'s migrator holds.
    pub(crate) fn new(client: &'a Client, db: &'a Db) -> Self {
        Link { client, db }
    }

    async fn run<T>(&self, sql: &str, fut: impl Future<Output = PgResult<T>>) -> PgResult<T> {
        let result = traced(&self.db.inner.target, sql, RoundTrip::Migration, fut).await;
        let inner = &self.db.inner;
        inner
            .counters
            .round_trip(RoundTrip::Migration, result.is_ok());
        // A migration's DDL and data count as writes for the route stage:
        // a read right after it must not reach a replica without its table.
        inner.replicas.wrote();
        result
    }

    /// `Client::batch_execute`, counted.
    pub(crate) async fn batch_execute(&self, sql: &str) -> PgResult<()> {
        self.run(sql, self.client.batch_execute(sql)).await
    }

    /// `Client::execute`, counted.
    pub(crate) async fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> PgResult<u64> {
        self.run(sql, self.client.execute(sql, params)).await
    }

    /// `Client::query`, counted.
    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> PgResult<Vec<Row>> {
        self.run(sql, self.client.query(sql, params)).await
    }

    /// `Client::query_one`, counted.
    pub(crate) async fn query_one(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> PgResult<Row> {
        self.run(sql, self.client.query_one(sql, params)).await
    }

    /// `Client::query_opt`, counted.
    pub(crate) async fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> PgResult<Option<Row>> {
        self.run(sql, self.client.query_opt(sql, params)).await
    }
}
