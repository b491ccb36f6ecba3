//! A black-holed network: every call returns a typed error within its
//! configured bound, and the pool recovers when the network does.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use strata::TimeoutKind;
use strata::prelude::*;
use strata_tests::TestDb;
use strata_tests::proxy::{FaultProxy, Mode};

/// How long `f` took and what it returned, or `None` if it hung past `hang`.
async fn timed<T>(
    hang: Duration,
    f: impl std::future::Future<Output = T>,
) -> (Duration, Option<T>) {
    let t0 = Instant::now();
    let out = tokio::time::timeout(hang, f).await.ok();
    (t0.elapsed(), out)
}

/// What the black-hole calls did: hung, over their bound, and a report line.
#[derive(Default)]
struct Tally {
    report: String,
    hung: usize,
    over: Vec<(&'static str, Duration)>,
}

impl Tally {
    /// Records one call: it must not hang, must fail as `expected` says,
    /// and must return within `limit` + 10%.
    fn check<T: std::fmt::Debug>(
        &mut self,
        name: &'static str,
        took: Duration,
        out: Option<Result<T>>,
        expected: impl Fn(&Error) -> bool,
        limit: Duration,
    ) {
        write!(
            self.report,
            "{name} {took:?} {:?}; ",
            out.as_ref().map(|r| r.as_ref().err())
        )
        .unwrap();
        match out {
            None => self.hung += 1,
            Some(r) => {
                assert!(r.as_ref().is_err_and(&expected), "{name}: {r:?}");
                if took > limit.mul_f64(1.1) {
                    self.over.push((name, took));
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn black_hole_every_call_returns_a_typed_timeout_within_its_bound() {
    let t = TestDb::new().await;
    t.execute("CREATE TABLE bh (id int)", &[]).await.unwrap();
    let proxy = FaultProxy::start("127.0.0.1:5432").await;
    let (acquire, connect, statement) = (
        Duration::from_millis(400),
        Duration::from_millis(800),
        Duration::from_millis(1_000),
    );
    let db = Db::connect(
        t.config()
            .port(proxy.port())
            .pool_max(3)
            .pool_min(3)
            .acquire_timeout(acquire)
            .connect_timeout(connect)
            .statement_timeout(Some(statement))
            .breaker_threshold(1_000),
    )
    .await
    .unwrap();

    // The write below must time out after it was sent, not while preparing
    // (a plain statement timeout): prepare it on all three connections,
    // held at once, and roll back.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(3));
    let prepares: Vec<_> = (0..3)
        .map(|_| {
            let (db, barrier) = (db.clone(), barrier.clone());
            tokio::spawn(async move {
                db.transaction(TxOptions::new(), |tx| {
                    let barrier = barrier.clone();
                    async move {
                        tx.execute("INSERT INTO bh VALUES ($1)", &[&-1i32]).await?;
                        barrier.wait().await;
                        Err::<(), _>(Error::NotFound { what: "a rollback" })
                    }
                })
                .await
            })
        })
        .collect();
    for p in prepares {
        assert!(matches!(p.await.unwrap(), Err(Error::NotFound { .. })));
    }

    let hang = Duration::from_secs(8);
    let mut tally = Tally::default();
    // Three idle connections, then the network goes silent.
    proxy.set_mode(Mode::Stall);
    let stall = Instant::now();

    let statement_timeout = |e: &Error| {
        matches!(
            e,
            Error::Timeout {
                kind: TimeoutKind::Statement,
                ..
            }
        )
    };
    let connect_timeout = |e: &Error| {
        matches!(
            e,
            Error::Timeout {
                kind: TimeoutKind::Connect,
                ..
            }
        )
    };

    // A read on an established connection.
    let (took, out) = timed(hang, db.query_read("SELECT 1", &[])).await;
    tally.check("read", took, out, statement_timeout, statement);
    // A write, sent (its statement was prepared before): its outcome is
    // unknown, never a plain timeout.
    let (took, out) = timed(hang, db.execute("INSERT INTO bh VALUES ($1)", &[&1i32])).await;
    let unknown = |e: &Error| matches!(e, Error::OutcomeUnknown { .. });
    tally.check("write", took, out, unknown, statement);
    // BEGIN on an established connection.
    let (took, out) = timed(
        hang,
        db.transaction(TxOptions::new(), |tx| async move {
            tx.query("SELECT 1", &[]).await.map(|_| ())
        }),
    )
    .await;
    tally.check("transaction", took, out, statement_timeout, statement);
    // Every connection is gone now: the next call must connect.
    let (took, out) = timed(hang, db.query_read("SELECT 1", &[])).await;
    tally.check("connect", took, out, connect_timeout, connect);
    // Three callers hold every slot while connecting; a fourth waits for one.
    let connects = proxy.accepted();
    let mut holders = Vec::new();
    for _ in 0..3 {
        let db = db.clone();
        holders.push(tokio::spawn(async move {
            timed(hang, db.query_read("SELECT 1", &[])).await
        }));
    }
    // Every holder's connect has reached the proxy: all three slots are taken.
    let deadline = Instant::now() + connect;
    while proxy.accepted() < connects + 3 {
        assert!(Instant::now() < deadline, "the holders never connected");
        // The poll's interval, not a synchronisation.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (took, out) = timed(hang, db.query_read("SELECT 1", &[])).await;
    let exhausted = |e: &Error| matches!(e, Error::PoolExhausted { .. });
    tally.check("acquire", took, out, exhausted, acquire);
    for h in holders {
        let (took, out) = h.await.unwrap();
        tally.check("connect (holder)", took, out, connect_timeout, connect);
    }
    // The stall ends; the pool recovers.
    proxy.set_mode(Mode::Forward);
    let healed = Instant::now();
    let mut recovered = None;
    while healed.elapsed() < Duration::from_secs(5) {
        if db.query_read("SELECT 1", &[]).await.is_ok() {
            recovered = Some(healed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let Tally { report, hung, over } = tally;
    println!(
        "black hole: stalled {:?}, calls hung {hung}, over their bound {over:?}, recovered in {recovered:?}; {report}",
        healed - stall
    );
    assert_eq!(hung, 0, "calls hung in the black hole");
    assert!(
        over.is_empty(),
        "calls over their configured bound + 10%: {over:?}"
    );
    assert!(recovered.is_some(), "the pool did not recover");
}
