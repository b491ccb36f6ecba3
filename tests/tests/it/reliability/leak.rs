//! Leak reports: a transaction holding its connection past the leak
//! threshold is reported, with where it was started.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strata::prelude::*;
use strata_tests::TestDb;

/// Captures WARN events on this thread: (when, fields).
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<(Instant, String)>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        *meta.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().unwrap().push((Instant::now(), fields.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn leak_is_reported_within_threshold_plus_a_second_with_its_origin() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let threshold = Duration::from_millis(300);
    let t = TestDb::with(|c| c.pool_max(1).leak_threshold(threshold)).await;
    let release = Arc::new(tokio::sync::Notify::new());
    let taken = Instant::now();
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
    // The holder has the connection before the waiter asks (polled, bounded).
    let deadline = Instant::now() + Duration::from_secs(2);
    while t.pool_status().in_use != 1 {
        assert!(
            Instant::now() < deadline,
            "the holder never took the connection"
        );
        tokio::task::yield_now().await;
    }
    let waiter = {
        let db = t.db().clone();
        tokio::spawn(async move { db.query_read("SELECT 1", &[]).await })
    };
    let mut waiting_max = 0;
    let mut reported = None;
    while taken.elapsed() < threshold + Duration::from_millis(1_500) && reported.is_none() {
        waiting_max = waiting_max.max(t.pool_status().waiting);
        reported = capture
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|(_, f)| f.contains("leak threshold"))
            .cloned();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = waiter.await.unwrap();
    release.notify_one();
    holder.await.unwrap().unwrap();
    let (at, fields) = reported.expect("no leak report");
    let after = at - taken;
    println!(
        "leak report: threshold {threshold:?}, reported after {after:?}, waiting gauge max {waiting_max}, report: {fields}"
    );
    assert!(
        after >= threshold && after <= threshold + Duration::from_secs(1),
        "{after:?}"
    );
    assert!(
        fields.contains("reliability/leak.rs"),
        "the report names where it was taken: {fields}"
    );
    assert!(
        waiting_max >= 1,
        "the starved caller shows in the waiting gauge"
    );
}
