//! Prometheus text exposition (format 0.0.4) of a `Db`'s metrics.

use std::fmt::Write;

use crate::observe::histogram::Histogram;
use crate::observe::metrics::BreakerState;
use crate::pool::Db;

/// Histogram bucket bounds: microseconds, and the `le` label in seconds.
const BOUNDS: [(u64, &str); 12] = [
    (500, "0.0005"),
    (1_000, "0.001"),
    (2_500, "0.0025"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (5_000_000, "5"),
];

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// A histogram family: per series (its labels, without braces), the `le`
/// buckets, `_sum` (seconds) and `_count`.
fn histogram(out: &mut String, name: &str, help: &str, series: &[(String, &Histogram)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    let bounds_us: Vec<u64> = BOUNDS.iter().map(|(us, _)| *us).collect();
    for (labels, h) in series {
        let sep = if labels.is_empty() { "" } else { "," };
        for ((_, bound), count) in BOUNDS.iter().zip(h.cumulative(&bounds_us)) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let total = h.count();
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}");
        let braces = |l: &str| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(
            out,
            "{name}_sum{} {}",
            braces(labels),
            h.sum().as_secs_f64()
        );
        let _ = writeln!(out, "{name}_count{} {total}", braces(labels));
    }
}

/// `kind="<label>"` for each label, with its count.
fn labelled(labels: &[&str], counts: &[u64]) -> Vec<(String, u64)> {
    labels
        .iter()
        .zip(counts)
        .map(|(k, n)| (format!("kind=\"{k}\""), *n))
        .collect()
}

fn pairs(labelled: &[(String, u64)]) -> Vec<(&str, u64)> {
    labelled.iter().map(|(l, n)| (l.as_str(), *n)).collect()
}

impl Db {
    /// Every metric in the Prometheus text format, for a `/metrics` route.
    pub fn prometheus(&self) -> String {
        let m = self.metrics();
        let mut out = String::with_capacity(4096);
        metric(
            &mut out,
            "strata_queries_total",
            "counter",
            "Statements run.",
            &[("", m.queries.total)],
        );
        let failed = labelled(
            &crate::observe::counters::FAILURE_KINDS,
            &m.queries.failed_by_kind,
        );
        metric(
            &mut out,
            "strata_queries_failed_total",
            "counter",
            "Statements that failed, by kind (refused before sending included).",
            &pairs(&failed),
        );
        let kinds = &crate::observe::counters::ROUND_TRIP_KINDS;
        let sent = labelled(kinds, &m.round_trips.sent);
        metric(
            &mut out,
            "strata_round_trips_total",
            "counter",
            "Round trips to PostgreSQL, by what they carried (statement, copy, begin, commit, ..).",
            &pairs(&sent),
        );
        let failed = labelled(kinds, &m.round_trips.failed);
        metric(
            &mut out,
            "strata_round_trips_failed_total",
            "counter",
            "Round trips that failed or got no answer in time, by what they carried.",
            &pairs(&failed),
        );
        metric(
            &mut out,
            "strata_queries_slow_total",
            "counter",
            "Statements slower than DB_SLOW_QUERY_MS.",
            &[("", m.queries.slow)],
        );
        metric(
            &mut out,
            "strata_reads_retried_total",
            "counter",
            "Reads repeated on a fresh connection.",
            &[("", m.queries.reads_retried)],
        );
        metric(
            &mut out,
            "strata_gets_batched_total",
            "counter",
            "Model gets answered by a batched = ANY($1) statement.",
            &[("", m.queries.gets_batched)],
        );

        let by_model = self.inner.observer.by_model.series();
        let series: Vec<(String, &Histogram)> = by_model
            .iter()
            .map(|s| {
                (
                    format!("model=\"{}\",operation=\"{}\"", s.model, s.operation),
                    &*s.histogram,
                )
            })
            .collect();
        histogram(
            &mut out,
            "strata_query_duration_seconds",
            "Statement latency, by model (`raw`: SQL the caller wrote) and operation.",
            &series,
        );
        histogram(
            &mut out,
            "strata_pool_acquire_duration_seconds",
            "How long pool checkouts waited for a connection.",
            &[(String::new(), &self.inner.observer.checkout_wait)],
        );

        let p = &m.pool;
        metric(
            &mut out,
            "strata_pool_connections",
            "gauge",
            "Open connections by state.",
            &[
                ("state=\"idle\"", p.idle as u64),
                ("state=\"in_use\"", p.in_use as u64),
            ],
        );
        metric(
            &mut out,
            "strata_pool_max",
            "gauge",
            "Configured pool size.",
            &[("", p.max as u64)],
        );
        metric(
            &mut out,
            "strata_pool_waiting",
            "gauge",
            "Callers waiting for a connection.",
            &[("", p.waiting as u64)],
        );
        metric(
            &mut out,
            "strata_pool_checkouts_total",
            "counter",
            "Connections checked out.",
            &[("", p.checkouts)],
        );
        metric(
            &mut out,
            "strata_pool_connect_failures_total",
            "counter",
            "Connection attempts for a caller that failed, retried ones included.",
            &[("", p.connect_failures)],
        );
        metric(
            &mut out,
            "strata_pool_connect_retries_total",
            "counter",
            "Failed connection attempts that were made again.",
            &[("", p.connect_retries)],
        );

        let t = &m.transactions;
        metric(
            &mut out,
            "strata_transactions_total",
            "counter",
            "Finished transactions by outcome.",
            &[
                ("outcome=\"committed\"", t.committed),
                ("outcome=\"rolled_back\"", t.rolled_back),
            ],
        );
        metric(
            &mut out,
            "strata_transactions_gave_up_total",
            "counter",
            "Transaction calls that exhausted their retries and returned the last conflict.",
            &[("", t.gave_up)],
        );
        metric(
            &mut out,
            "strata_transaction_retries_total",
            "counter",
            "Transaction retries by cause.",
            &[
                ("cause=\"serialization\"", t.retried_serialization),
                ("cause=\"deadlock\"", t.retried_deadlock),
                ("cause=\"unique\"", t.retried_unique),
            ],
        );

        let c = &m.cache;
        metric(
            &mut out,
            "strata_cache_hits_total",
            "counter",
            "Cache hits by tier.",
            &[("tier=\"l1\"", c.l1_hits), ("tier=\"l2\"", c.l2_hits)],
        );
        metric(
            &mut out,
            "strata_cache_misses_total",
            "counter",
            "Cache misses.",
            &[("", c.misses)],
        );
        metric(
            &mut out,
            "strata_cache_invalidations_total",
            "counter",
            "Cache invalidations.",
            &[("", c.invalidations)],
        );
        metric(
            &mut out,
            "strata_cache_redis_errors_total",
            "counter",
            "Redis calls that failed.",
            &[("", c.redis_errors)],
        );
        let f = &m.changes;
        metric(
            &mut out,
            "strata_changes_notifications_total",
            "counter",
            "Change-feed notifications received by this handle's listener.",
            &[("", f.notifications)],
        );
        metric(
            &mut out,
            "strata_changes_gaps_total",
            "counter",
            "Change-feed gaps: reconnects after which events may be missing.",
            &[("", f.gaps)],
        );
        metric(
            &mut out,
            "strata_changes_listener_up",
            "gauge",
            "1 while the change-feed listener is connected and listening.",
            &[("", u64::from(f.live))],
        );
        metric(
            &mut out,
            "strata_circuit_open",
            "gauge",
            "1 while the PostgreSQL breaker refuses calls.",
            &[("", u64::from(m.breaker != BreakerState::Closed))],
        );
        metric(
            &mut out,
            "strata_cache_breaker_open",
            "gauge",
            "1 while a Redis node's breaker refuses calls (cached reads fall through to PostgreSQL).",
            &[(
                "",
                u64::from(self.inner.cache.l2.as_ref().is_some_and(|l2| l2.is_open())),
            )],
        );
        self.replica_metrics(&mut out);
        out
    }

    /// One series per replica, labelled `replica="host:port"`.
    fn replica_metrics(&self, out: &mut String) {
        let replicas = self.replicas();
        let label = |name: &str| {
            let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
            format!("replica=\"{escaped}\"")
        };
        let each = |value: &dyn Fn(&crate::replica::ReplicaStatus) -> u64| {
            replicas
                .iter()
                .map(|r| (label(&r.name), value(r)))
                .collect::<Vec<_>>()
        };
        let up = each(&|r| u64::from(r.state == crate::replica::ReplicaState::Up));
        metric(
            out,
            "strata_replica_up",
            "gauge",
            "1 while the read replica answers and is in recovery.",
            &pairs(&up),
        );
        let serving = each(&|r| u64::from(r.serving));
        metric(
            out,
            "strata_replica_serving",
            "gauge",
            "1 while the replica is within the lag bound and serves reads.",
            &pairs(&serving),
        );
        let reads = each(&|r| r.reads);
        metric(
            out,
            "strata_replica_reads_total",
            "counter",
            "Statements run on the replica.",
            &pairs(&reads),
        );
        let failures = each(&|r| r.failures);
        metric(
            out,
            "strata_replica_failures_total",
            "counter",
            "Connections or checks of the replica that failed.",
            &pairs(&failures),
        );
        let _ = writeln!(
            out,
            "# HELP strata_replica_lag_seconds How far the replica was behind the primary at its last check."
        );
        let _ = writeln!(out, "# TYPE strata_replica_lag_seconds gauge");
        for r in &replicas {
            if let Some(lag) = r.lag {
                let _ = writeln!(
                    out,
                    "strata_replica_lag_seconds{{{}}} {}",
                    label(&r.name),
                    lag.as_secs_f64()
                );
            }
        }
    }
}
