//! The statement pipeline: the one internal path every round trip to
//! PostgreSQL takes.
//!
//! A statement (a model operation, raw SQL, a binary `COPY`) enters through
//! [`run`] and passes these stages, each in its own file:
//!
//! | stage    | what it does                                                | file |
//! |----------|-------------------------------------------------------------|------|
//! | guard    | refuses input the protocol or the session cannot take: raw-SQL plan, parameter and size limits, NUL in text | `guard.rs`, `limits.rs` |
//! | observe  | one `db.statement` span (OTel `db.*` names), counters, latency, history, slow log | `mod.rs` ([`run`]), `round_trip.rs` |
//! | route    | a read outside a transaction to a replica that has replayed what it must see, else the primary | `crate::replica`, `Db`'s handle |
//! | acquire  | a connection: pooled (breaker, acquire timeout, dead ones skipped) or the transaction's | `conn.rs`, [`Executor`]'s handle |
//! | send     | prepare, then one bounded round trip, pipelined where safe (`BEGIN READ ONLY`..`COMMIT`) | `send.rs` |
//! | classify | `Error` by SQLSTATE; `OutcomeUnknown` for a sent autocommit write whose answer was lost | `attempt.rs`, `crate::error` |
//! | retry    | a read whose connection died, once, on a connection opened after the failure; never a sent write | `attempt.rs` |
//! | effects  | cache invalidation (now, or on `COMMIT`), in the model layer's `write` path | `crate::model::ops` |
//!
//! Round trips on a connection the caller already holds (transaction
//! control, savepoints, the session probe, migrations, the breaker's probe)
//! go through [`round_trip::round_trip`]: the same send and observe stages,
//! without acquire and retry, which their caller owns.
//!
//! Where a new stage plugs in: one that rewrites or routes a statement
//! (tenant scope, replica routing, batching) goes before acquire, in
//! [`run`]; one that needs the connection (a session variable) goes in
//! `attempt.rs` after the prepare; one that reacts to the outcome (audit,
//! change feed) belongs with effects. Never a path of its own: a round trip
//! that bypasses this module is invisible to every stage.

pub(crate) mod actor;
mod attempt;
pub(crate) mod conn;
pub(crate) mod guard;
mod limits;
pub(crate) mod round_trip;
pub(crate) mod send;
pub(crate) mod stream;

use tokio_postgres::Row;

use crate::error::Result;
use crate::executor::{Executor, OpKind, ParamList, Params};
use crate::observe::counters::RoundTrip;
pub(crate) use actor::Audited;
pub(crate) use attempt::outcome_unknown;
pub(crate) use guard::{Declared, Plan};
pub(crate) use limits::counted;

/// What a statement returns.
#[derive(Clone, Copy)]
pub(crate) enum Op<'a> {
    /// Its rows.
    Query,
    /// At most one row (a lookup by primary key): no `Vec` to allocate.
    QueryOpt,
    /// The number of rows it affected.
    Execute,
    /// A binary `COPY .. FROM STDIN` of these rows; the statement prepared
    /// for their column types is [`CopyRows::insert_sql`].
    Copy(&'a dyn CopyRows),
}

/// Rows for a binary `COPY` (never on a table with row-level security:
/// PostgreSQL refuses `COPY FROM` there).
pub(crate) trait CopyRows: Sync {
    /// A single-row `INSERT` of the same columns, prepared for their types.
    fn insert_sql(&self) -> &str;
    /// How many rows.
    fn len(&self) -> usize;
    /// How many columns each row has.
    fn width(&self) -> usize;
    /// Row `i`'s values, in column order.
    fn row(&self, i: usize) -> ParamList<'_>;
    /// The name of column `c`, for error messages.
    fn column(&self, c: usize) -> &str;
}

/// One statement as it enters the pipeline.
#[derive(Clone, Copy)]
pub(crate) struct Request<'a> {
    /// Its SQL.
    pub(crate) sql: &'a str,
    /// Its parameters (none for a `COPY`: the rows are in `op`).
    pub(crate) params: Params<'a>,
    /// Whether it only reads: decides the retry after a lost connection.
    pub(crate) kind: OpKind,
    /// What it returns.
    pub(crate) op: Op<'a>,
    /// What the raw-SQL guard asks around it.
    pub(crate) plan: Plan,
    /// The scope stage's `; SELECT set_config('app.tenant_id', ..)`: on a
    /// pooled connection the statement runs inside `BEGIN` + this ..
    /// `COMMIT`, pipelined (row-level security sees the tenant, and the
    /// setting ends with the transaction).
    pub(crate) set_local: Option<&'a str>,
    /// A write of an audited model, and where its actor goes inside
    /// `with_actor` (see [`actor`]).
    pub(crate) audited: Audited,
    /// The model's name for the metrics' `model` label; `""` for raw SQL.
    pub(crate) model: &'static str,
}

/// What a model statement needs set around it on a pooled connection, and
/// whose statement it is.
#[derive(Clone, Copy, Default)]
pub(crate) struct Around {
    /// The model has row-level security: the tenant is set.
    pub(crate) rls: bool,
    /// The model is audited: the actor is set for a write.
    pub(crate) audited: Audited,
    /// The model's name (`""`: raw SQL), for the metrics.
    pub(crate) model: &'static str,
}

impl Around {
    /// Only the tenant, for a read of `model` (`""`: raw SQL).
    pub(crate) fn read(model: &'static str, rls: bool) -> Around {
        Around {
            rls,
            audited: Audited::No,
            model,
        }
    }

    /// The statement's text ends in its `RETURNING` list: an audited one
    /// carries the actor in it.
    pub(crate) fn returning(mut self) -> Around {
        if self.audited == Audited::Wrap {
            self.audited = Audited::Returning;
        }
        self
    }

    /// The statement's text ends where a `RETURNING` clause would start:
    /// an audited one carries the actor in one.
    pub(crate) fn bare(mut self) -> Around {
        if self.audited == Audited::Wrap {
            self.audited = Audited::Bare;
        }
        self
    }
}

impl<'a> Request<'a> {
    /// A model statement: strata wrote it, so the guard has nothing to add.
    fn model(sql: &'a str, params: Params<'a>, kind: OpKind, op: Op<'a>) -> Request<'a> {
        Request {
            sql,
            params,
            kind,
            op,
            plan: Plan::default(),
            set_local: None,
            audited: Audited::No,
            model: "",
        }
    }

    /// The scope stage: a statement of a model with row-level security
    /// (`rls`), or raw SQL, on a tenant handle whose connection does not
    /// carry the tenant yet (autocommit) sets it around the statement.
    fn scoped<E: Executor + ?Sized>(mut self, e: &'a E, around: Around) -> Self {
        if around.rls && !e.__tenant_set() {
            self.set_local = e.__tenant().map(|t| t.set_local());
        }
        self.audited = around.audited;
        self.model = around.model;
        self
    }

    /// What its round trips count as.
    fn round_trip(&self) -> RoundTrip {
        match self.op {
            Op::Copy(_) => RoundTrip::Copy,
            _ => RoundTrip::Statement,
        }
    }
}

pub(crate) enum Output {
    Rows(Vec<Row>),
    Row(Option<Row>),
    Count(u64),
}

// Each `Op` has one `Output`: `Query` rows, `QueryOpt` a row, `Execute` and
// `Copy` a count. The accessors are for the caller that chose the `Op`.
impl Output {
    pub(crate) fn rows(self) -> Vec<Row> {
        match self {
            Output::Rows(rows) => rows,
            _ => unreachable!("Op::Query returns rows"),
        }
    }

    pub(crate) fn row(self) -> Option<Row> {
        match self {
            Output::Row(row) => row,
            _ => unreachable!("Op::QueryOpt returns at most one row"),
        }
    }

    pub(crate) fn count(self) -> u64 {
        match self {
            Output::Count(n) => n,
            _ => unreachable!("Op::Execute and Op::Copy return a count"),
        }
    }

    fn rows_seen(&self) -> u64 {
        match self {
            Output::Rows(rows) => rows.len() as u64,
            Output::Row(row) => u64::from(row.is_some()),
            Output::Count(n) => *n,
        }
    }
}

/// Runs a statement that returns at most one row (a primary-key lookup).
pub(crate) async fn run_query_opt<E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    params: Params<'_>,
    kind: OpKind,
    around: Around,
) -> Result<Option<Row>> {
    run(
        e,
        Request::model(sql, params, kind, Op::QueryOpt).scoped(e, around),
    )
    .await
    .map(Output::row)
}

/// Runs a query with an explicit [`OpKind`]: model code knows whether each
/// statement reads.
pub(crate) async fn run_query<E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    params: Params<'_>,
    kind: OpKind,
    around: Around,
) -> Result<Vec<Row>> {
    run(
        e,
        Request::model(sql, params, kind, Op::Query).scoped(e, around),
    )
    .await
    .map(Output::rows)
}

/// Runs a statement with an explicit [`OpKind`]; returns the affected row count.
pub(crate) async fn run_execute<E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    params: Params<'_>,
    kind: OpKind,
    around: Around,
) -> Result<u64> {
    run(
        e,
        Request::model(sql, params, kind, Op::Execute).scoped(e, around),
    )
    .await
    .map(Output::count)
}

/// Runs a binary `COPY .. FROM STDIN` (`sql`) of `rows`: a write, never
/// repeated once sent.
pub(crate) async fn run_copy<E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    rows: &dyn CopyRows,
    around: Around,
) -> Result<u64> {
    let req = Request::model(sql, &[], OpKind::Write, Op::Copy(rows)).scoped(e, around);
    run(e, req).await.map(Output::count)
}

/// Raw SQL from the caller: checked by the guard ([`guard::plan`]) before
/// anything is sent, then run like a model statement, with the plan's
/// read-only wrapper and session probe.
pub(crate) async fn run_raw<E: Executor + ?Sized>(
    e: &E,
    sql: &str,
    params: Params<'_>,
    declared: Declared,
    op: Op<'_>,
) -> Result<Output> {
    let plan = counted(e, guard::plan(sql, declared, e.__in_tx()))?;
    if plan.probe {
        e.__check_session_at_end();
    }
    let kind = match declared {
        Declared::Read => OpKind::Read,
        Declared::Any => OpKind::Write,
    };
    let req = Request {
        sql,
        params,
        kind,
        op,
        plan,
        set_local: None,
        audited: Audited::No,
        model: "",
    }
    .scoped(e, Around::read("", true));
    run(e, req).await
}

/// The observe stage around everything else: one span for the statement
/// (its retries included), its latency, history and counters. Every
/// failure counts, the ones before anything is sent included (breaker
/// open, pool exhausted, connect timeout, invalid input): they are what
/// the caller sees.
async fn run<E: Executor + ?Sized>(e: &E, req: Request<'_>) -> Result<Output> {
    let db = e.__db();
    let started = std::time::Instant::now();
    crate::observe::counters::bump(&db.inner.counters.queries);
    // The route stage's epoch moves once the write is over, however it
    // ends: returned, failed, or its future dropped after it was sent (a
    // lost answer may have applied). A transaction's count at `COMMIT`.
    let _wrote = (req.kind == OpKind::Write && !e.__in_tx()).then(|| db.inner.replicas.mark());
    let sql = req.sql;
    // Not `round_trip::traced`: its `Either` moves the statement's future
    // twice more before the first poll; each branch here awaits it in place.
    let span = round_trip::span(&db.inner.target, sql, req.round_trip());
    let result = if span.is_disabled() {
        attempt::attempt(e, db, req).await
    } else {
        let result =
            tracing::Instrument::instrument(attempt::attempt(e, db, req), span.clone()).await;
        if let Err(err) = &result {
            round_trip::failed(&span, err);
        }
        result
    };
    let params = match req.op {
        Op::Copy(rows) => rows.width(),
        _ => req.params.len(),
    };
    let rows = result.as_ref().map_or(0, Output::rows_seen);
    if let Err(err) = &result {
        db.inner.counters.failed(err);
    }
    db.inner.observer.statement(
        req.model,
        sql,
        params,
        started.elapsed(),
        rows,
        result.is_ok(),
    );
    result
}
