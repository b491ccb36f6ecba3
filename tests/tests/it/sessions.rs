//! `strata::sessions` against real PostgreSQL and Redis: tokens, the two
//! deadlines to the microsecond, touch throttling, merged updates,
//! rotation and destruction across processes, cleanup under load, the
//! tower-sessions store and its axum example.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use strata::Timestamp;
use strata::prelude::*;
use strata::sessions::{Clock, DataPatch, NewSession, Sessions};
use strata_tests::{TestDb, redis_url};

#[allow(dead_code)] // its `main` is for `cargo run --example sessions_axum`
#[path = "../../../examples/sessions_axum.rs"]
mod example;

/// A clock the test moves by hand.
#[derive(Clone)]
struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    fn new() -> ManualClock {
        // A whole second, so "+ 1 µs" arithmetic reads plainly.
        let start = Timestamp::from_unix_micros(1_900_000_000_000_000);
        ManualClock(Arc::new(Mutex::new(start)))
    }
    fn clock(&self) -> Clock {
        let at = self.0.clone();
        Clock::from_fn(move || *at.lock().unwrap())
    }
    fn set(&self, t: Timestamp) {
        *self.0.lock().unwrap() = t;
    }
    fn advance(&self, d: Duration) {
        let mut at = self.0.lock().unwrap();
        *at = *at + d;
    }
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

const MICRO: Duration = Duration::from_micros(1);

async fn installed(t: &TestDb) {
    t.install_sessions().await.unwrap();
}

/// 10 s absolute, 4 s idle, touch interval 1 s, on a manual clock.
fn short(db: &Db, clock: &ManualClock) -> Sessions {
    Sessions::new(db)
        .absolute_timeout(Duration::from_secs(10))
        .unwrap()
        .idle_timeout(Duration::from_secs(4))
        .unwrap()
        .touch_interval(Duration::from_secs(1))
        .unwrap()
        .clock(clock.clock())
}

#[tokio::test]
async fn a_session_records_its_client_and_lives_until_destroyed() {
    let t = TestDb::new().await;
    installed(&t).await;
    t.install_sessions().await.unwrap(); // idempotent
    let in_schema: bool = t
        .query_one(
            "SELECT to_regclass(format('%I.strata_sessions', $1::text)) IS NOT NULL",
            &[&t.schema()],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        in_schema,
        "the table is created in the search_path's schema"
    );

    let sessions = Sessions::new(t.db());
    let ip: std::net::IpAddr = "203.0.113.7".parse().unwrap();
    let (token, created) = sessions
        .create(
            NewSession::for_user("42")
                .ip(ip)
                .user_agent("Mozilla/5.0 (test)")
                .data("theme", json!("dark")),
        )
        .await
        .unwrap();
    assert_eq!(token.as_str().len(), 43);
    assert_eq!(format!("{token:?}"), "SessionToken(..)");
    assert_eq!(created.user_id.as_deref(), Some("42"));
    assert_eq!(created.ip, Some(ip));
    assert_eq!(created.user_agent.as_deref(), Some("Mozilla/5.0 (test)"));
    assert_eq!(created.version, 1);
    assert_eq!(
        created.expires_at.duration_since(created.created_at),
        Some(Duration::from_secs(7 * 86_400))
    );
    assert_eq!(
        created.idle_expires_at.duration_since(created.created_at),
        Some(Duration::from_secs(86_400))
    );

    let got = sessions.get(token.as_str()).await.unwrap().unwrap();
    assert_eq!(got, created);
    assert_eq!(got.data["theme"], json!("dark"));
    assert!(sessions.destroy(token.as_str()).await.unwrap());
    assert_eq!(sessions.get(token.as_str()).await.unwrap(), None);
    assert!(
        !sessions.destroy(token.as_str()).await.unwrap(),
        "already gone"
    );
    assert_eq!(t.count("strata_sessions").await, 0);

    // A long user agent is cut, not refused.
    let (_, long) = sessions
        .create(NewSession::anonymous().user_agent("x".repeat(5_000)))
        .await
        .unwrap();
    assert_eq!(long.user_agent.unwrap().len(), 512);
    assert_eq!(long.user_id, None);
}

/// "Exact at both edges": a session is alive at `t` iff `t < expires_at`
/// and `t < idle_expires_at`. One microsecond before a deadline it is
/// served (from the cache too), at the deadline it is not, and cleanup
/// removes it at the deadline and not a microsecond before.
#[tokio::test]
async fn expiry_is_exact_at_both_edges() {
    let t = TestDb::new().await;
    installed(&t).await;
    let clock = ManualClock::new();
    let sessions = short(t.db(), &clock);
    let t0 = clock.now();

    // Idle edge: created at t0, never touched, idle deadline t0 + 4 s.
    let (idle, s) = sessions.create(NewSession::for_user("u")).await.unwrap();
    assert_eq!(s.idle_expires_at, t0 + Duration::from_secs(4));
    sessions.get(idle.as_str()).await.unwrap().unwrap(); // cached now
    let hits = t.metrics().cache.l1_hits;
    clock.set(s.idle_expires_at - MICRO);
    assert!(sessions.get(idle.as_str()).await.unwrap().is_some());
    clock.set(s.idle_expires_at);
    assert_eq!(sessions.get(idle.as_str()).await.unwrap(), None);
    assert_eq!(
        sessions.touch(idle.as_str()).await.unwrap(),
        None,
        "no revival"
    );
    assert!(
        t.metrics().cache.l1_hits >= hits + 2,
        "both edge reads were cache hits: the deadline is checked on cached entries"
    );

    // Sliding: touched every 3 s, the idle deadline moves; the absolute one
    // (t0 + 10 s) does not.
    clock.set(t0);
    let (busy, _) = sessions.create(NewSession::for_user("u")).await.unwrap();
    for at in [3, 6, 9] {
        clock.set(t0 + Duration::from_secs(at));
        let s = sessions.touch(busy.as_str()).await.unwrap().unwrap();
        assert_eq!(s.last_seen_at, clock.now());
        assert_eq!(s.idle_expires_at, clock.now() + Duration::from_secs(4));
    }
    // Sliding edge of the last touch (t0 + 9 s + 4 s) lies past the absolute one.
    let absolute = t0 + Duration::from_secs(10);
    clock.set(absolute - MICRO);
    assert!(sessions.get(busy.as_str()).await.unwrap().is_some());
    assert_eq!(
        sessions.cleanup_expired().await.unwrap().removed,
        1,
        "only `idle`"
    );
    assert!(sessions.get(busy.as_str()).await.unwrap().is_some());
    clock.set(absolute);
    assert_eq!(sessions.get(busy.as_str()).await.unwrap(), None);
    assert_eq!(sessions.cleanup_expired().await.unwrap().removed, 1);
    assert_eq!(t.count("strata_sessions").await, 0);

    // Sliding edge on its own: touched at t0 + 2 s, dead at t0 + 6 s exactly.
    clock.set(t0 + Duration::from_secs(20));
    let start = clock.now();
    let (slid, _) = sessions.create(NewSession::anonymous()).await.unwrap();
    clock.set(start + Duration::from_secs(2));
    sessions.touch(slid.as_str()).await.unwrap().unwrap();
    let edge = start + Duration::from_secs(6);
    clock.set(edge - MICRO);
    assert!(sessions.get(slid.as_str()).await.unwrap().is_some());
    assert_eq!(sessions.cleanup_expired().await.unwrap().removed, 0);
    clock.set(edge);
    assert_eq!(sessions.get(slid.as_str()).await.unwrap(), None);
    assert_eq!(
        sessions
            .update(slid.as_str(), DataPatch::new().set("k", json!(1)))
            .await
            .unwrap(),
        None
    );
    assert_eq!(sessions.rotate(slid.as_str()).await.unwrap(), None);
    assert_eq!(sessions.cleanup_expired().await.unwrap().removed, 1);
}

#[tokio::test]
async fn a_hundred_touches_in_a_row_write_once() {
    let t = TestDb::new().await;
    installed(&t).await;
    let clock = ManualClock::new();
    let sessions = Sessions::new(t.db())
        .touch_interval(Duration::from_secs(60))
        .unwrap()
        .clock(clock.clock());
    let (token, created) = sessions.create(NewSession::for_user("u")).await.unwrap();
    clock.advance(Duration::from_secs(61));
    sessions.get(token.as_str()).await.unwrap().unwrap(); // cached
    let first = clock.now();
    let seq = t.recent_queries().last().map_or(0, |q| q.seq);
    let total = t.metrics().queries.total;
    for _ in 0..100 {
        let s = sessions.touch(token.as_str()).await.unwrap().unwrap();
        assert_eq!(s.last_seen_at, first, "written once, by the first touch");
        clock.advance(Duration::from_millis(10));
    }
    let updates = t
        .recent_queries()
        .into_iter()
        .filter(|q| q.seq > seq && q.sql.trim_start().starts_with("UPDATE"))
        .count();
    assert_eq!(updates, 1);
    // The write, and the one read that refilled the invalidated entry.
    assert_eq!(t.metrics().queries.total - total, 2);
    let stored: Timestamp = t
        .query_one("SELECT last_seen_at FROM strata_sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, first);
    assert!(stored > created.last_seen_at);
}

#[tokio::test]
async fn concurrent_updates_of_different_keys_both_survive() {
    let t = TestDb::new().await;
    installed(&t).await;
    let sessions = Sessions::new(t.db());
    let (token, _) = sessions
        .create(NewSession::anonymous().data("gone", json!(true)))
        .await
        .unwrap();
    const N: i64 = 150;
    let writer = |key: &'static str| {
        let (sessions, token) = (sessions.clone(), token.clone());
        tokio::spawn(async move {
            let mut versions = Vec::new();
            for i in 0..N {
                let v = sessions
                    .update(token.as_str(), DataPatch::new().set(key, json!(i)))
                    .await
                    .unwrap()
                    .unwrap();
                versions.push(v);
            }
            versions
        })
    };
    let (a, b) = (writer("a"), writer("b"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let mut all: Vec<i64> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    let expected: Vec<i64> = (2..=2 * N + 1).collect();
    assert_eq!(all, expected, "every update got its own version");

    let s = sessions.get(token.as_str()).await.unwrap().unwrap();
    assert_eq!(s.data["a"], json!(N - 1));
    assert_eq!(s.data["b"], json!(N - 1));
    assert_eq!(s.version, 2 * N + 1);

    let v = sessions
        .update(
            token.as_str(),
            DataPatch::new()
                .remove("gone")
                .remove("a")
                .set("a", json!("new")),
        )
        .await
        .unwrap();
    assert_eq!(v, Some(2 * N + 2));
    let s = sessions.get(token.as_str()).await.unwrap().unwrap();
    assert_eq!(s.data.get("gone"), None);
    assert_eq!(
        s.data["a"],
        json!("new"),
        "a set wins over a removal of the same key"
    );
}

/// Two handles on one schema and one Redis: two processes, as far as the
/// cache can tell. Both have the session in L1; a destroy, rotate or
/// destroy-all in one is a miss in the other as soon as it returns (the
/// cache's invalidation bound for a write that returned `Ok`).
#[tokio::test]
async fn destroy_and_rotate_in_one_process_are_misses_in_another() {
    let t = TestDb::with(strata_tests::with_redis).await;
    installed(&t).await;
    let other = Db::connect(t.config()).await.unwrap();
    let (a, b) = (Sessions::new(t.db()), Sessions::new(&other));

    let (token, _) = a.create(NewSession::for_user("7")).await.unwrap();
    for s in [&a, &b, &a, &b] {
        s.get(token.as_str()).await.unwrap().unwrap();
    }
    assert!(
        other.metrics().cache.l1_hits >= 1,
        "b serves it from its cache"
    );
    assert!(a.destroy(token.as_str()).await.unwrap());
    assert_eq!(b.get(token.as_str()).await.unwrap(), None);

    let (token, _) = a
        .create(NewSession::for_user("7").data("k", json!(1)))
        .await
        .unwrap();
    b.get(token.as_str()).await.unwrap().unwrap();
    b.get(token.as_str()).await.unwrap().unwrap();
    let fresh = a.rotate(token.as_str()).await.unwrap().unwrap();
    assert_ne!(fresh.as_str(), token.as_str());
    assert_eq!(
        b.get(token.as_str()).await.unwrap(),
        None,
        "the old token is dead"
    );
    let moved = b.get(fresh.as_str()).await.unwrap().unwrap();
    assert_eq!(moved.data["k"], json!(1));
    assert_eq!(moved.user_id.as_deref(), Some("7"));

    // An update in one process is read by the other.
    a.update(fresh.as_str(), DataPatch::new().set("k", json!(2)))
        .await
        .unwrap();
    assert_eq!(
        b.get(fresh.as_str()).await.unwrap().unwrap().data["k"],
        json!(2)
    );

    let (second, _) = a.create(NewSession::for_user("7")).await.unwrap();
    let (bystander, _) = a.create(NewSession::for_user("8")).await.unwrap();
    for tok in [&fresh, &second, &bystander] {
        b.get(tok.as_str()).await.unwrap().unwrap();
    }
    assert_eq!(a.destroy_all_for_user("7").await.unwrap(), 2);
    assert_eq!(b.get(fresh.as_str()).await.unwrap(), None);
    assert_eq!(b.get(second.as_str()).await.unwrap(), None);
    assert!(b.get(bystander.as_str()).await.unwrap().is_some());
    other.close().await;
}

#[tokio::test]
async fn malformed_truncated_or_forged_tokens_are_no_session() {
    let t = TestDb::new().await;
    installed(&t).await;
    let sessions = Sessions::new(t.db());
    let (token, _) = sessions.create(NewSession::anonymous()).await.unwrap();
    let real = token.as_str();
    let mut flipped = real.as_bytes().to_vec();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();

    let before = t.metrics().queries.total;
    let malformed = [
        String::new(),
        real[..42].to_owned(),
        real[..20].to_owned(),
        format!("{real}x"),
        format!("{}+", &real[..42]),
        format!("{}=", &real[..42]),
        format!("{}A", "é".repeat(21)),
        "' OR 1=1 --".to_owned(),
        "A".repeat(100_000),
    ];
    for bad in &malformed {
        assert_eq!(sessions.get(bad).await.unwrap(), None);
        assert_eq!(sessions.touch(bad).await.unwrap(), None);
        assert_eq!(sessions.update(bad, DataPatch::new()).await.unwrap(), None);
        assert_eq!(sessions.rotate(bad).await.unwrap(), None);
        assert!(!sessions.destroy(bad).await.unwrap());
    }
    assert_eq!(
        t.metrics().queries.total,
        before,
        "a malformed token is refused before any statement"
    );
    // Well-formed forgeries (one character off; all zero bits) are looked
    // up by hash and found absent: "no session", not an error.
    for forged in [flipped, "A".repeat(43)] {
        assert_eq!(sessions.get(&forged).await.unwrap(), None);
        assert!(!sessions.destroy(&forged).await.unwrap());
    }
    assert!(
        sessions.get(real).await.unwrap().is_some(),
        "the real one is untouched"
    );
}

/// Canary: the raw token of every session, through every operation, is
/// nowhere in the table, in Redis under the test's prefix, or in strata's
/// logs at `trace` with every statement logged as slow. The test runs on
/// one thread so its subscriber sees every task's events.
#[tokio::test(flavor = "current_thread")]
async fn the_raw_token_never_reaches_the_database_redis_or_logs() {
    let captured = strata_tests::logs::Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let prefix = format!("sessions-canary-{:08x}", rand::random::<u32>());
    let p = prefix.clone();
    let t = TestDb::with(move |c| {
        strata_tests::with_redis(c)
            .cache_prefix(p)
            .slow_query(Duration::ZERO)
    })
    .await;
    installed(&t).await;
    let sessions = Sessions::new(t.db());
    let mut tokens = Vec::new();
    for i in 0..5 {
        let (token, _) = sessions
            .create(NewSession::for_user(format!("user-{i}")).data("n", json!(i)))
            .await
            .unwrap();
        sessions.get(token.as_str()).await.unwrap().unwrap();
        let other = Db::connect(t.config()).await.unwrap();
        Sessions::new(&other)
            .get(token.as_str())
            .await
            .unwrap()
            .unwrap(); // an L2 read
        other.close().await;
        sessions
            .update(token.as_str(), DataPatch::new().set("x", json!(i)))
            .await
            .unwrap();
        sessions.get(token.as_str()).await.unwrap().unwrap();
        tokens.push(token);
    }
    let rotated = sessions.rotate(tokens[0].as_str()).await.unwrap().unwrap();
    sessions.get(rotated.as_str()).await.unwrap().unwrap();
    tracing::info!(token = ?rotated, "a redacted token in a log line");
    let mut all: Vec<String> = tokens.iter().map(|t| t.as_str().to_owned()).collect();
    all.push(rotated.as_str().to_owned());

    // The table, every column as text (hashes, data, addresses, times).
    let rows: Vec<String> = t
        .query("SELECT s::text FROM strata_sessions s", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows.len(), 5);

    // Redis: every key under the prefix, and every value of every type,
    // on every node (the shared Redis may be a cluster: READONLY lets its
    // replicas answer too; a standalone server refuses it, harmlessly).
    let mut keys: Vec<String> = Vec::new();
    let mut redis_text = Vec::new();
    let mut values = 0;
    for url in redis_url().split(',') {
        let client = redis::Client::open(url).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let _ = redis::cmd("READONLY").query_async::<()>(&mut conn).await;
        let node_keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("*{prefix}*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        redis_text.extend(node_keys.join("\n").into_bytes());
        for key in &node_keys {
            let kind: String = redis::cmd("TYPE")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
            let parts: Vec<Vec<u8>> = match kind.as_str() {
                "string" => vec![
                    redis::cmd("GET")
                        .arg(key)
                        .query_async(&mut conn)
                        .await
                        .unwrap(),
                ],
                "hash" => redis::cmd("HGETALL")
                    .arg(key)
                    .query_async(&mut conn)
                    .await
                    .unwrap(),
                "set" => redis::cmd("SMEMBERS")
                    .arg(key)
                    .query_async(&mut conn)
                    .await
                    .unwrap(),
                "list" => redis::cmd("LRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut conn)
                    .await
                    .unwrap(),
                "zset" => redis::cmd("ZRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut conn)
                    .await
                    .unwrap(),
                _ => Vec::new(),
            };
            values += parts.len();
            for p in parts {
                redis_text.extend_from_slice(&p);
                redis_text.push(b'\n');
            }
        }
        for key in &node_keys {
            let _ = redis::cmd("DEL")
                .arg(key)
                .query_async::<()>(&mut conn)
                .await;
        }
        keys.extend(node_keys);
    }
    assert!(
        keys.iter().any(|k| k.contains("strata_sessions")) && values > 0,
        "the sessions were cached in Redis (else the check proves nothing): {keys:?}"
    );

    drop(_guard);
    let logs = captured.text();
    assert!(
        logs.contains("strata_sessions"),
        "the statements were logged (else the check proves nothing)"
    );
    assert!(logs.contains("SessionToken(..)"));
    let table = rows.join("\n");
    for token in &all {
        assert!(!table.contains(token), "a raw token is in the table");
        assert!(
            !redis_text
                .windows(token.len())
                .any(|w| w == token.as_bytes()),
            "a raw token is in Redis"
        );
        assert!(!logs.contains(token), "a raw token is in the logs");
    }
}

/// 100 000 expired sessions removed in batches of 1 000 while readers read
/// 20 live ones straight from PostgreSQL (no cache) as fast as they can.
/// Prints the longest read next to the longest batch; asserts no read
/// failed or missed, and exactly the expired rows went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_of_100k_expired_rows_in_batches_while_reads_go_on() {
    let t = TestDb::new().await;
    installed(&t).await;
    let sessions = Sessions::new(t.db());
    let mut live = Vec::new();
    for i in 0..20 {
        let (token, _) = sessions
            .create(NewSession::for_user(format!("live-{i}")))
            .await
            .unwrap();
        live.push(token);
    }
    t.execute(
        "INSERT INTO strata_sessions (token_hash, user_id, created_at, last_seen_at, expires_at, idle_expires_at)
         SELECT sha256(int4send(g)), 'gone-' || g, now() - interval '2 days', now() - interval '2 days',
                now() - interval '1 day' + g * interval '1 ms', now() + interval '1 day'
         FROM generate_series(1, 100000) g",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(t.count("strata_sessions").await, 100_020);

    let reader_db = Db::connect(t.config().cache_l1_capacity(0)).await.unwrap();
    let readers = Sessions::new(&reader_db);
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, missed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for r in 0..4 {
        let (readers, live, stop) = (readers.clone(), live.clone(), stop.clone());
        let (reads, missed) = (reads.clone(), missed.clone());
        tasks.push(tokio::spawn(async move {
            let mut longest = Duration::ZERO;
            let mut i = r;
            while !stop.load(Ordering::Relaxed) {
                let token = &live[i % live.len()];
                i += 1;
                let started = Instant::now();
                let got = readers.get(token.as_str()).await.expect("a read failed");
                longest = longest.max(started.elapsed());
                reads.fetch_add(1, Ordering::Relaxed);
                if got.is_none() {
                    missed.fetch_add(1, Ordering::Relaxed);
                }
            }
            longest
        }));
    }
    let done = sessions.cleanup_expired().await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut longest_read = Duration::ZERO;
    for task in tasks {
        longest_read = longest_read.max(task.await.unwrap());
    }
    println!(
        "cleanup: {} rows in {} batches, longest batch {:?}; {} reads meanwhile, longest read {:?}",
        done.removed,
        done.batches,
        done.longest_batch,
        reads.load(Ordering::Relaxed),
        longest_read
    );
    assert_eq!(done.removed, 100_000);
    assert!(done.batches >= 100, "batches of at most 1 000 rows");
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert_eq!(
        missed.load(Ordering::Relaxed),
        0,
        "every live session stayed readable"
    );
    assert_eq!(t.count("strata_sessions").await, 20);
    reader_db.close().await;
}

#[tokio::test]
async fn settings_are_checked() {
    let t = TestDb::new().await;
    let s = Sessions::new(t.db());
    let invalid = |r: Result<Sessions>| match r {
        Err(Error::InvalidInput { reason }) => reason,
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    assert!(
        invalid(s.clone().idle_timeout(Duration::ZERO)).contains("idle_timeout must be positive")
    );
    assert!(invalid(s.clone().absolute_timeout(Duration::ZERO)).contains("absolute_timeout"));
    assert!(invalid(s.clone().cleanup_batch(0)).contains("at least 1"));
    let long = s.clone().touch_interval(Duration::from_secs(86_400));
    assert!(invalid(long).contains("shorter than idle_timeout"));
}

mod tower_store {
    use std::collections::HashMap;

    use tower_sessions::cookie::time::OffsetDateTime;
    use tower_sessions::session::{Id, Record};
    use tower_sessions::session_store::{ExpiredDeletion, SessionStore};

    use super::*;
    use strata::sessions::TowerStore;

    fn record(expiry: OffsetDateTime) -> Record {
        Record {
            id: Id::default(),
            data: HashMap::from([("user".to_owned(), json!("ann"))]),
            expiry_date: expiry,
        }
    }

    fn time_of(t: Timestamp) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.unix_micros()) * 1_000).unwrap()
    }

    #[tokio::test]
    async fn the_store_keeps_tower_sessions_semantics() {
        let t = TestDb::new().await;
        installed(&t).await;
        let clock = ManualClock::new();
        let store = TowerStore::new(Sessions::new(t.db()).clock(clock.clock()));
        let expiry = clock.now() + Duration::from_secs(60);
        let mut rec = record(time_of(expiry));
        store.create(&mut rec).await.unwrap();
        assert_eq!(store.load(&rec.id).await.unwrap(), Some(rec.clone()));

        // A taken id: create draws another one, and both records stay.
        let mut dup = record(time_of(expiry));
        dup.id = rec.id;
        store.create(&mut dup).await.unwrap();
        assert_ne!(dup.id, rec.id);
        assert_eq!(t.count("strata_sessions").await, 2);

        // save replaces the data and moves the expiry date.
        rec.data.insert("cart".into(), json!([1, 2]));
        rec.data.remove("user");
        let later = expiry + Duration::from_secs(60);
        rec.expiry_date = time_of(later);
        store.save(&rec).await.unwrap();
        assert_eq!(store.load(&rec.id).await.unwrap(), Some(rec.clone()));

        // Served until its expiry date, to the microsecond.
        clock.set(later - MICRO);
        assert!(store.load(&rec.id).await.unwrap().is_some());
        clock.set(later);
        assert_eq!(store.load(&rec.id).await.unwrap(), None);
        store.delete_expired().await.unwrap();
        assert_eq!(
            t.count("strata_sessions").await,
            0,
            "both expired and removed"
        );

        // save of an unknown id inserts; delete removes; delete again is fine.
        let fresh = record(time_of(later + Duration::from_secs(60)));
        store.save(&fresh).await.unwrap();
        assert!(store.load(&fresh.id).await.unwrap().is_some());
        store.delete(&fresh.id).await.unwrap();
        store.delete(&fresh.id).await.unwrap();
        assert_eq!(store.load(&fresh.id).await.unwrap(), None);

        // The cookie's value (the id's text) is stored nowhere.
        let mut kept = record(time_of(later + Duration::from_secs(60)));
        store.create(&mut kept).await.unwrap();
        let text: String = t
            .query_one("SELECT s::text FROM strata_sessions s", &[])
            .await
            .unwrap()
            .get(0);
        assert!(!text.contains(&kept.id.to_string()));
    }

    #[tokio::test]
    async fn the_axum_example_logs_in_authenticates_and_logs_out() {
        let t = TestDb::new().await;
        let summary = example::run(t.db()).await.expect("the example runs");
        let statuses: Vec<u16> = summary.steps.iter().map(|s| s.1).collect();
        assert_eq!(statuses, [401, 200, 200, 200, 401], "{:?}", summary.steps);
        assert_eq!(summary.steps[2].2, "hello ann");
        assert_eq!(summary.rows_left, 0, "the logout removed the session");
    }
}
