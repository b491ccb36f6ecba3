//! Statement latency per model and operation: the labels of
//! `strata_query_duration_seconds{model, operation}`.
//!
//! Cardinality is bounded by construction, not by a cap: `model` is a
//! `#[derive(Model)]` struct's name (a `&'static str` the program was
//! compiled with) or `raw` for SQL the caller wrote, and `operation` is
//! one of six words read from the statement's first keyword. No label
//! comes from the statement's text beyond that keyword, so raw SQL with
//! inlined values cannot grow the series.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::histogram::Histogram;

/// The `model` label of raw SQL.
pub(crate) const RAW: &str = "raw";

/// The `operation` label's values.
const OPERATIONS: [&str; 6] = ["select", "insert", "update", "delete", "copy", "other"];

/// Which of [`OPERATIONS`] `sql` is.
fn operation(sql: &str) -> usize {
    let word = crate::sql::operation(sql);
    OPERATIONS[..5]
        .iter()
        .position(|op| word.eq_ignore_ascii_case(op))
        .unwrap_or(5)
}

/// One histogram per (model, operation) seen so far.
#[derive(Debug, Default)]
pub(crate) struct ByModel {
    series: RwLock<HashMap<(&'static str, usize), Arc<Histogram>>>,
}

/// One labelled series, as the exposition reads it.
pub(crate) struct Series {
    pub(crate) model: &'static str,
    pub(crate) operation: &'static str,
    pub(crate) histogram: Arc<Histogram>,
}

impl ByModel {
    /// Records a statement of `model` (`""`: raw SQL).
    pub(crate) fn record(&self, model: &'static str, sql: &str, elapsed: Duration) {
        let key = (if model.is_empty() { RAW } else { model }, operation(sql));
        if let Some(h) = self.series.read().ok().and_then(|s| s.get(&key).cloned()) {
            h.record(elapsed);
            return;
        }
        if let Ok(mut series) = self.series.write() {
            series.entry(key).or_default().record(elapsed);
        }
    }

    /// Every series, sorted by model, then operation.
    pub(crate) fn series(&self) -> Vec<Series> {
        let Ok(series) = self.series.read() else {
            return Vec::new();
        };
        let mut out: Vec<Series> = series
            .iter()
            .map(|(&(model, op), h)| Series {
                model,
                operation: OPERATIONS[op],
                histogram: h.clone(),
            })
            .collect();
        out.sort_by_key(|s| (s.model, s.operation));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_come_from_the_first_keyword_only() {
        for (sql, op) in [
            ("SELECT 1", "select"),
            ("/* x */ insert into t values (1)", "insert"),
            ("(SELECT 1)", "select"),
            ("UPDATE t SET a = 1", "update"),
            ("DELETE FROM t", "delete"),
            ("COPY t FROM STDIN BINARY", "copy"),
            ("WITH x AS (SELECT 1) SELECT * FROM x", "other"),
            ("VACUUM t_12345", "other"),
            ("", "other"),
        ] {
            assert_eq!(OPERATIONS[operation(sql)], op, "{sql}");
        }
    }

    #[test]
    fn raw_sql_with_inlined_values_adds_no_series() {
        let by = ByModel::default();
        for i in 0..1000 {
            by.record(
                "",
                &format!("SELECT * FROM t WHERE id = {i}"),
                Duration::from_micros(i),
            );
        }
        by.record("User", "SELECT 1", Duration::from_millis(1));
        let series = by.series();
        assert_eq!(series.len(), 2);
        assert_eq!((series[0].model, series[0].operation), ("User", "select"));
        assert_eq!((series[1].model, series[1].operation), (RAW, "select"));
        assert_eq!(series[1].histogram.count(), 1000);
    }
}
