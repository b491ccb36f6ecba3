//! Metrics, slow-query log, health, the PostgreSQL breaker, leak reports and
//! the monitoring routes, against real services and real sockets.

use std::time::{Duration, Instant};

use strata::prelude::*;
use strata::{BreakerState, Health};
use strata_tests::proxy::{FaultProxy, Mode};
use strata_tests::{TestDb, TestRedis};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn metrics_count_and_time_statements() {
    let t = TestDb::with(|c| c.slow_query(Duration::from_millis(200))).await;
    for _ in 0..20 {
        t.query("SELECT 1", &[]).await.unwrap();
    }
    let _ = t.query("SELEC 1", &[]).await;
    t.query("SELECT pg_sleep(0.25)", &[]).await.unwrap();
    let m = t.metrics();
    assert_eq!(m.queries.total, 22);
    assert_eq!(m.queries.failed, 1);
    assert_eq!(m.queries.slow, 1, "only the pg_sleep is slow");
    // Figures belong to the benchmarks; here only their order: the one
    // 250 ms statement is in the tail, not at the median.
    assert!(m.queries.p50 > Duration::ZERO && m.queries.p50 <= m.queries.p99);
    assert!(
        m.queries.p99 >= Duration::from_millis(200),
        "{:?}",
        m.queries
    );
    assert!(m.pool.checkouts >= 22);
    let slow = t.slow_queries();
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0].sql, "SELECT pg_sleep(0.25)");
    assert!(slow[0].duration >= Duration::from_millis(250));
    let recent = t.recent_queries();
    assert_eq!(recent.len(), 22);
    assert!(recent.last().unwrap().sql.contains("pg_sleep"));
    assert!(
        !recent.iter().rev().nth(1).unwrap().ok,
        "the syntax error is recorded as failed"
    );
}

#[tokio::test]
async fn prometheus_text_parses_and_moves() {
    let t = TestDb::new().await;
    let parse = |text: String| {
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
            .expect("valid Prometheus text")
    };
    let value = |scrape: &prometheus_parse::Scrape, name: &str| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    let before = parse(t.prometheus());
    for _ in 0..5 {
        t.query("SELECT 1", &[]).await.unwrap();
    }
    t.transaction(TxOptions::new(), |tx| async move {
        tx.query("SELECT 1", &[]).await.map(|_| ())
    })
    .await
    .unwrap();
    let after = parse(t.prometheus());
    assert_eq!(
        value(&after, "strata_queries_total") - value(&before, "strata_queries_total"),
        6.0
    );
    assert_eq!(value(&after, "strata_transactions_total"), 1.0);
    assert!(
        after
            .samples
            .iter()
            .any(|s| s.metric == "strata_query_duration_seconds")
    );
    assert_eq!(value(&after, "strata_pool_max"), 20.0);
}

/// The value of the sample line `name{labels}` in `text`.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

/// Statement latency is a histogram per model and operation, with `_sum`
/// and `_count`; raw SQL is `model="raw"`, however many texts it has.
#[tokio::test]
async fn statement_latency_is_labelled_by_model_and_operation() {
    let t = TestDb::new().await;
    t.execute(super::models::PRODUCTS, &[]).await.unwrap();
    for id in 1..=3 {
        super::models::Product::insert(t.db(), super::models::product(id))
            .await
            .unwrap();
    }
    super::models::Product::get(t.db(), 1).await.unwrap();
    for i in 0..5 {
        t.query(&format!("SELECT {i}"), &[]).await.unwrap();
    }
    let text = t.prometheus();
    let count = |labels: &str| {
        sample(
            &text,
            &format!("strata_query_duration_seconds_count{{{labels}}}"),
        )
    };
    assert_eq!(
        count("model=\"Product\",operation=\"insert\""),
        Some(3.0),
        "{text}"
    );
    assert_eq!(count("model=\"Product\",operation=\"select\""), Some(1.0));
    let raw = count("model=\"raw\",operation=\"select\"").unwrap();
    assert!(raw >= 5.0, "{raw}");
    let sum = sample(
        &text,
        "strata_query_duration_seconds_sum{model=\"Product\",operation=\"insert\"}",
    )
    .unwrap();
    assert!(sum > 0.0 && sum < 60.0, "{sum}");
    // The buckets end at +Inf = _count, and are cumulative.
    let inf = sample(
        &text,
        "strata_query_duration_seconds_bucket{model=\"Product\",operation=\"insert\",le=\"+Inf\"}",
    );
    assert_eq!(inf, Some(3.0));
    assert!(sample(&text, "strata_pool_acquire_duration_seconds_count").unwrap() >= 9.0);
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("valid Prometheus text");
}

/// Every metric the Grafana dashboard (`dashboards/strata.json`) queries
/// is a family the exposition declares, and every label it groups by is
/// one that family carries.
#[tokio::test]
async fn the_dashboard_queries_only_metrics_that_exist() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../dashboards/strata.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(exprs.len() > 20, "{} queries", exprs.len());
    let t = TestDb::new().await;
    // Labelled series appear with their first statement.
    t.query("SELECT 1", &[]).await.unwrap();
    let text = t.prometheus();
    let declared = |family: &str| {
        text.lines()
            .any(|l| l.starts_with(&format!("# TYPE {family} ")))
    };
    let metric = regex::Regex::new(r"strata_[a-z0-9_]+").unwrap();
    let by = regex::Regex::new(r"by \(([a-z_, ]+)\)").unwrap();
    let mut seen = 0;
    for expr in &exprs {
        for m in metric.find_iter(expr) {
            let name = m.as_str();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix).filter(|f| declared(f)))
                .unwrap_or(name);
            assert!(
                declared(family),
                "the dashboard queries {name}, which is not exposed"
            );
            seen += 1;
        }
        // Labels grouped by: each on some sample line of the families the
        // query names (replica families have samples only with replicas).
        for labels in by.captures_iter(expr) {
            for label in labels[1].split(',').map(str::trim).filter(|l| *l != "le") {
                let known = metric.find_iter(expr).any(|m| {
                    m.as_str().starts_with("strata_replica_")
                        || text.lines().any(|l| {
                            l.starts_with(m.as_str()) && l.contains(&format!("{label}=\""))
                        })
                });
                assert!(known, "{expr}: no series carries the label {label}");
            }
        }
    }
    println!(
        "dashboard: {} queries, {seen} metric references, all exposed",
        exprs.len()
    );
}

#[tokio::test]
async fn health_is_degraded_when_redis_is_down() {
    let mut redis = TestRedis::start();
    let url = redis.url();
    let t = TestDb::with(move |c| c.redis_url(url)).await;
    let report = t.health().await;
    assert_eq!(report.status, Health::Healthy, "{report:?}");
    assert_eq!(report.redis.status, "up");
    redis.kill();
    let report = t.health().await;
    assert_eq!(report.status, Health::Degraded, "{report:?}");
    assert_eq!(report.postgres.status, "up");
    assert_eq!(report.redis.status, "down");
    assert!(
        report.reasons.iter().any(|r| r.starts_with("redis")),
        "{report:?}"
    );
    let plain = TestDb::new().await;
    assert_eq!(plain.health().await.redis.status, "not_configured");
}

/// A handle connected through a proxy, with a small breaker.
async fn through(proxy: &FaultProxy, t: &TestDb) -> Db {
    Db::connect(
        t.config()
            .port(proxy.port())
            .pool_max(2)
            .retry_attempts(0)
            .breaker_threshold(3)
            .breaker_cooldown(Duration::from_millis(400))
            .connect_timeout(Duration::from_millis(500)),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_closes_again() {
    let t = TestDb::new().await;
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let db = through(&proxy, &t).await;
    db.query_read("SELECT 1", &[]).await.unwrap();
    // The server "goes away": connections cut, new ones refused.
    proxy.set_mode(Mode::Reject);
    proxy.cut_all();
    let mut errors = Vec::new();
    for _ in 0..10 {
        errors.push(db.query_read("SELECT 1", &[]).await.unwrap_err());
    }
    assert!(
        errors.iter().any(|e| matches!(e, Error::CircuitOpen)),
        "{errors:?}"
    );
    assert_eq!(db.metrics().breaker, BreakerState::Open);
    // While open: every call fails without a connect attempt (how fast is
    // the benchmarks' business).
    let attempts = proxy.accepted();
    for _ in 0..100 {
        let err = db.query_read("SELECT 1", &[]).await.unwrap_err();
        assert!(matches!(err, Error::CircuitOpen), "{err:?}");
    }
    assert_eq!(
        proxy.accepted(),
        attempts,
        "an open breaker made a network attempt"
    );
    assert_eq!(db.health().await.status, Health::Unhealthy);
    // The server comes back; once the cool-down is over, one probe closes
    // it (polled, bounded: calls before then fail fast, as above).
    proxy.set_mode(Mode::Forward);
    let deadline = Instant::now() + Duration::from_secs(3);
    let before = proxy.accepted();
    loop {
        match db.query_read("SELECT 1", &[]).await {
            Ok(_) => break,
            Err(Error::CircuitOpen) => {}
            Err(e) => panic!("the probe failed: {e:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "the breaker never let a probe through"
        );
        // The poll's interval, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(proxy.accepted() - before, 1, "one probe closed it");
    assert_eq!(db.metrics().breaker, BreakerState::Closed);
}

/// Polls `cond` until it holds, up to 5 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "never: {what}");
        // The poll's interval, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_transaction_holding_its_connection_too_long_is_reported() {
    let t = TestDb::with(|c| {
        c.pool_max(1)
            .leak_threshold(Duration::from_millis(300))
            .acquire_timeout(Duration::from_millis(300))
    })
    .await;
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let holder = {
        let (db, release) = (t.db().clone(), release.clone());
        tokio::spawn(async move {
            db.transaction(TxOptions::new(), |tx| {
                let release = release.clone();
                async move {
                    tx.query("SELECT 1", &[]).await?;
                    release.notified().await;
                    Ok(())
                }
            })
            .await
        })
    };
    eventually("the holder has the connection", || {
        t.pool_status().in_use == 1
    })
    .await;
    let waiter = {
        let db = t.db().clone();
        tokio::spawn(async move { db.query_read("SELECT 1", &[]).await })
    };
    eventually("the waiter waits", || t.pool_status().waiting >= 1).await;
    eventually("the leak is reported", || {
        !t.leaked_connections().is_empty()
    })
    .await;
    let leaked = t.leaked_connections();
    assert_eq!(leaked.len(), 1, "{leaked:?}");
    assert!(
        leaked[0].contains("observe.rs"),
        "reported where it was taken: {leaked:?}"
    );
    // The waiter's acquire times out while the holder keeps the only connection.
    assert!(matches!(
        waiter.await.unwrap(),
        Err(Error::PoolExhausted { .. })
    ));
    release.notify_one();
    holder.await.unwrap().unwrap();
    assert!(t.leaked_connections().is_empty());
}

/// A bare HTTP/1.1 GET over a real socket: status code and body.
async fn get(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let code = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

#[tokio::test]
async fn monitoring_routes_answer_over_a_socket_and_check_the_token() {
    let t = TestDb::with(strata_tests::with_redis).await;
    t.query("SELECT 1", &[]).await.unwrap();
    let app = strata::observe::http::router(t.db().clone(), Some("s3cret".into()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    for path in [
        "/health",
        "/metrics",
        "/metrics.json",
        "/slow-queries",
        "/query-history",
        "/pool",
        "/transactions",
    ] {
        let (code, body) = get(port, path, Some("s3cret")).await;
        assert_eq!(code, 200, "{path}: {body}");
        assert!(!body.is_empty(), "{path}");
        for token in [None, Some("wrong"), Some("s3cre"), Some("s3crett")] {
            let (code, body) = get(port, path, token).await;
            assert_eq!(code, 401, "{path} with {token:?}");
            assert!(
                !body.contains("strata_") && !body.contains("SELECT"),
                "{body}"
            );
        }
    }
    let (_, health) = get(port, "/health", Some("s3cret")).await;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["status"], "healthy");
    let (_, history) = get(port, "/query-history", Some("s3cret")).await;
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["sql"] == "SELECT 1")
    );
    let (_, text) = get(port, "/metrics", Some("s3cret")).await;
    assert!(text.contains("# TYPE strata_queries_total counter"));
    server.abort();
}

#[tokio::test]
async fn health_is_busy_not_down_when_every_connection_is_in_use() {
    let t = TestDb::with(|c| c.pool_max(1).acquire_timeout(Duration::from_millis(200))).await;
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let holder = {
        let (db, release) = (t.db().clone(), release.clone());
        tokio::spawn(async move {
            db.transaction(TxOptions::new(), |tx| {
                let release = release.clone();
                async move {
                    tx.query("SELECT 1", &[]).await?;
                    release.notified().await;
                    Ok(())
                }
            })
            .await
        })
    };
    eventually("the holder has the connection", || {
        t.pool_status().in_use == 1
    })
    .await;
    let report = t.health().await;
    release.notify_one();
    holder.await.unwrap().unwrap();
    assert_eq!(report.postgres.status, "busy", "{report:?}");
    assert_eq!(
        report.status,
        Health::Degraded,
        "saturated, not down: {report:?}"
    );
    assert!(
        report.reasons.iter().any(|r| r.starts_with("pool")),
        "{report:?}"
    );
    assert_eq!(t.health().await.status, Health::Healthy);
}

/// What a test subscriber saw: span names with their fields, and events.
#[derive(Clone, Default)]
struct Seen {
    spans: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
    events: std::sync::Arc<std::sync::Mutex<Vec<(tracing::Level, String)>>>,
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        use std::fmt::Write as _;
        let _ = write!(self.0, "{}={value} ", field.name());
    }
}

impl tracing::Subscriber for Seen {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(String::new());
        span.record(&mut fields);
        let mut spans = self.spans.lock().unwrap();
        spans.push((span.metadata().name().to_owned(), fields.0));
        tracing::span::Id::from_u64(spans.len() as u64)
    }
    fn record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut fields = Fields(String::new());
        values.record(&mut fields);
        let mut spans = self.spans.lock().unwrap();
        if let Some(span) = spans.get_mut(usize::try_from(id.into_u64()).unwrap() - 1) {
            span.1.push_str(&fields.0);
        }
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.events
            .lock()
            .unwrap()
            .push((*event.metadata().level(), fields.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Statements run in a span with the OpenTelemetry database attributes.
#[tokio::test]
async fn each_statement_has_a_span_with_the_opentelemetry_attributes() {
    let t = TestDb::new().await;
    let seen = Seen::default();
    let guard = tracing::subscriber::set_default(seen.clone());
    t.query_read("SELECT $1::int + 1", &[&41i32]).await.unwrap();
    t.execute("CREATE TABLE spans (n int)", &[]).await.unwrap();
    t.execute("INSERT INTO spans VALUES ($1)", &[&41i32])
        .await
        .unwrap();
    t.query_read("SELECT n / 0 FROM spans", &[])
        .await
        .unwrap_err();
    drop(guard);
    let spans = seen.spans.lock().unwrap().clone();
    let statements: Vec<&String> = spans
        .iter()
        .filter(|(name, f)| name == "db.statement" && f.contains("strata.round_trip=statement "))
        .map(|(_, f)| f)
        .collect();
    assert_eq!(statements.len(), 4, "{spans:?}");
    let (_, port) = t
        .config()
        .to_string()
        .rsplit_once(':')
        .map(|(a, b)| (a.to_owned(), b.split('/').next().unwrap().to_owned()))
        .unwrap();
    for (fields, sql, op, collection, name) in [
        (statements[0], "SELECT $1::int + 1", "SELECT", "", "SELECT"),
        (
            statements[1],
            "CREATE TABLE spans (n int)",
            "CREATE",
            "",
            "CREATE",
        ),
        (
            statements[2],
            "INSERT INTO spans VALUES ($1)",
            "INSERT",
            "spans",
            "INSERT spans",
        ),
        (
            statements[3],
            "SELECT n / 0 FROM spans",
            "SELECT",
            "spans",
            "SELECT spans",
        ),
    ] {
        // OpenTelemetry's stable database names, not the deprecated ones.
        assert!(fields.contains("db.system.name=postgresql "), "{fields}");
        assert!(
            fields.contains(&format!("db.query.text={sql} ")),
            "{fields}"
        );
        assert!(
            fields.contains(&format!("db.operation.name={op} ")),
            "{fields}"
        );
        assert!(
            fields.contains(&format!("db.collection.name={collection} ")),
            "{fields}"
        );
        assert!(fields.contains(&format!("otel.name={name} ")), "{fields}");
        assert!(fields.contains("db.namespace=test "), "{fields}");
        assert!(fields.contains("server.address=127.0.0.1 "), "{fields}");
        assert!(fields.contains(&format!("server.port={port} ")), "{fields}");
        assert!(!fields.contains("db.statement="), "{fields}");
        assert!(
            !fields.contains("41"),
            "a parameter value in the span: {fields}"
        );
    }
    // A failed statement says how, with the label of strata_queries_failed_total.
    assert!(
        statements[3].contains("error.type=database "),
        "{}",
        statements[3]
    );
    assert!(!statements[2].contains("error.type"), "{}", statements[2]);
}

/// Every Redis call is a `redis` span with OpenTelemetry's names: the
/// command, the server, and `error.type` when it failed.
#[tokio::test]
async fn redis_calls_have_spans() {
    use super::models::{PRODUCTS, Product, ProductPatch, product};

    let redis = TestRedis::start();
    let url = redis.url();
    let t = TestDb::with(move |c| c.redis_url(url)).await;
    t.execute(PRODUCTS, &[]).await.unwrap();
    Product::insert(t.db(), product(1)).await.unwrap();
    let seen = Seen::default();
    let guard = tracing::subscriber::set_default(seen.clone());
    // A fill (miss), a hit through a handle without L1, a write's
    // invalidation, and the general cache API.
    Product::get_cached(t.db(), 1).await.unwrap();
    let other = Db::connect(t.config().cache_l1_capacity(0)).await.unwrap();
    Product::get_cached(&other, 1).await.unwrap();
    Product::patch(
        t.db(),
        1,
        ProductPatch {
            price: Some(7),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    t.cache()
        .set("k", &1u32, Duration::from_secs(5))
        .await
        .unwrap();
    drop(guard);
    let spans = seen.spans.lock().unwrap().clone();
    let redis_spans: Vec<&String> = spans
        .iter()
        .filter(|(n, _)| n == "redis")
        .map(|(_, f)| f)
        .collect();
    for f in &redis_spans {
        assert!(f.contains("db.system.name=redis "), "{f}");
        assert!(f.contains("server.address=127.0.0.1 "), "{f}");
        assert!(f.contains(&format!("server.port={} ", redis.port())), "{f}");
        assert!(!f.contains("error.type"), "{f}");
    }
    let has = |op: &str| {
        redis_spans
            .iter()
            .any(|f| f.contains(&format!("db.operation.name={op} ")))
    };
    for op in ["MGET", "EVALSHA set_rows", "EVALSHA invalidate", "SET"] {
        assert!(has(op), "no {op} span: {redis_spans:#?}");
    }
}

/// Every round trip strata makes, not only model and raw statements, is
/// in a `db.statement` span and in `round_trips` / `strata_round_trips_total`,
/// by kind: transaction control, savepoints, `COPY`, the session check
/// after unproven raw SQL, and a migration run's statements.
#[tokio::test]
async fn every_round_trip_has_a_span_and_a_count() {
    use super::models::{NewUser, USERS, User, new_user};

    let t = TestDb::new().await;
    t.execute(USERS, &[]).await.unwrap();
    let dir = std::env::temp_dir().join(format!("strata-rt-{}", t.schema()));
    let migration = dir.join("20240101000000_rt");
    std::fs::create_dir_all(&migration).unwrap();
    std::fs::write(migration.join("up.sql"), "CREATE TABLE rt_m (n int);").unwrap();
    std::fs::write(migration.join("down.sql"), "DROP TABLE rt_m;").unwrap();
    let before = t.metrics().round_trips;
    let seen = Seen::default();
    let guard = tracing::subscriber::set_default(seen.clone());

    // BEGIN, a statement, SAVEPOINT, a statement, ROLLBACK TO + RELEASE, COMMIT.
    t.transaction(TxOptions::new(), |tx| async move {
        tx.execute(
            "INSERT INTO users (email, name, age, active) VALUES ('a@x', 'a', 1, true)",
            &[],
        )
        .await?;
        let _ = tx
            .savepoint(|sp| async move {
                sp.execute(
                    "INSERT INTO users (email, name, age, active) VALUES ('b@x', 'b', 2, true)",
                    &[],
                )
                .await?;
                Err::<(), _>(Error::NotFound { what: "undo" })
            })
            .await;
        Ok(())
    })
    .await
    .unwrap();
    // BEGIN, ROLLBACK.
    let _ = t
        .transaction(TxOptions::new(), |_tx| async move {
            Err::<(), _>(Error::NotFound { what: "rollback" })
        })
        .await;
    // COPY, once the batch is past the threshold.
    let rows: Vec<NewUser> = (1..=i64::try_from(strata::COPY_THRESHOLD).unwrap() + 1)
        .map(|i| new_user(i + 10))
        .collect();
    User::insert_many(t.db(), &rows).await.unwrap();
    // DDL through raw SQL: the statement, then the session check.
    t.execute("CREATE TABLE rt_raw (n int)", &[]).await.unwrap();
    // A migration run: lock, history, the migration, COMMIT.
    strata::migrate::Migrator::from_dir(&dir)
        .unwrap()
        .up(t.db())
        .await
        .unwrap();
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);

    let after = t.metrics().round_trips;
    let sent = |kind: &str| after.sent_of(kind) - before.sent_of(kind);
    assert_eq!(sent("begin"), 2);
    assert_eq!(
        sent("savepoint"),
        2,
        "SAVEPOINT, then ROLLBACK TO + RELEASE"
    );
    assert_eq!(sent("commit"), 1);
    assert_eq!(sent("rollback"), 1);
    assert_eq!(sent("copy"), 1);
    assert_eq!(
        sent("session_check"),
        1,
        "{:#?}",
        seen.spans.lock().unwrap()
    );
    assert!(sent("statement") >= 3, "{after:?}");
    assert!(sent("migration") >= 6, "{after:?}");
    for kind in strata::ROUND_TRIP_KINDS {
        assert_eq!(after.failed_of(kind), before.failed_of(kind), "{kind}");
    }

    let spans = seen.spans.lock().unwrap().clone();
    let of = |kind: &str, op: &str| {
        spans
            .iter()
            .filter(|(name, f)| {
                name == "db.statement"
                    && f.contains(&format!("strata.round_trip={kind} "))
                    && f.contains(&format!("db.operation.name={op} "))
                    && f.contains("db.system.name=postgresql ")
            })
            .count()
    };
    assert_eq!(of("begin", "BEGIN"), 2, "{spans:#?}");
    assert_eq!(of("savepoint", "SAVEPOINT"), 1, "{spans:#?}");
    assert_eq!(of("savepoint", "ROLLBACK"), 1, "{spans:#?}");
    assert_eq!(of("commit", "COMMIT"), 1, "{spans:#?}");
    assert_eq!(of("rollback", "ROLLBACK"), 1, "{spans:#?}");
    assert_eq!(of("copy", "COPY"), 1, "{spans:#?}");
    assert_eq!(of("session_check", "SELECT"), 1, "{spans:#?}");
    assert!(of("migration", "CREATE") >= 1, "{spans:#?}");
    assert!(of("migration", "COMMIT") >= 1, "{spans:#?}");
    // Each transaction and each migration is a span of its own, with the
    // same OpenTelemetry names.
    let named = |name: &str, has: &[&str]| {
        spans
            .iter()
            .filter(|(n, f)| n == name && has.iter().all(|h| f.contains(h)))
            .count()
    };
    let tx = [
        "otel.name=TRANSACTION ",
        "db.system.name=postgresql ",
        "db.operation.name=TRANSACTION ",
        "db.transaction.attempts=1 ",
    ];
    assert_eq!(named("db.transaction", &tx), 2, "{spans:#?}");
    let migration = [
        "otel.name=MIGRATE 20240101000000 ",
        "db.system.name=postgresql ",
        "db.operation.name=MIGRATE ",
        "db.migration.version=20240101000000 ",
        "db.migration.name=rt ",
    ];
    assert_eq!(named("db.migration", &migration), 1, "{spans:#?}");

    // And in the Prometheus text, by kind.
    let text = t.prometheus();
    assert!(
        text.contains(&format!(
            "strata_round_trips_total{{kind=\"copy\"}} {}",
            after.sent_of("copy")
        )),
        "{text}"
    );
}

/// The slow-query warning names the statement and how many parameters it
/// had, never their values.
#[tokio::test]
async fn the_slow_query_warning_redacts_parameters() {
    let t = TestDb::with(|c| c.slow_query(Duration::from_millis(50))).await;
    let seen = Seen::default();
    let guard = tracing::subscriber::set_default(seen.clone());
    let sql = "SELECT pg_sleep(0.1), $1::text AS secret";
    t.query(sql, &[&"hunter2"]).await.unwrap();
    t.query("SELECT $1::text", &[&"fast-hunter2"])
        .await
        .unwrap();
    drop(guard);
    let events = seen.events.lock().unwrap().clone();
    let slow: Vec<&String> = events
        .iter()
        .filter(|(level, f)| *level == tracing::Level::WARN && f.contains("slow query"))
        .map(|(_, f)| f)
        .collect();
    assert_eq!(slow.len(), 1, "only the slow statement warns: {events:?}");
    assert!(
        slow[0].contains(&format!("db.query.text={sql} ")),
        "{}",
        slow[0]
    );
    assert!(slow[0].contains("params=1 redacted"), "{}", slow[0]);
    let everything = format!("{events:?}{:?}", seen.spans.lock().unwrap());
    assert!(
        !everything.contains("hunter2"),
        "a parameter value was logged: {everything}"
    );
    assert_eq!(t.slow_queries().len(), 1);
}
