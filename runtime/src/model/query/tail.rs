//! `LIMIT` and `OFFSET`: appended by strata after the text sea-query
//! renders (sea-query always binds them), and for the first pages written
//! into the text as integers, so PostgreSQL can keep one generic plan for
//! a list page (see `cached`).

use sea_query::Value;

/// Statements with their `LIMIT` and `OFFSET` written into the text that
/// one statement shape may cache; further ones bind them (see
/// `Query::sql`).
pub(crate) const MAX_LITERAL_TAILS_PER_SHAPE: usize = 32;

/// Pages (of the query's own limit) whose `OFFSET` may be written into the
/// text: pages 1 to 5.
pub(crate) const LITERAL_PAGES: u64 = 5;

/// A statement's `LIMIT` and `OFFSET`, appended by strata after the text
/// sea-query renders, since sea-query always binds them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tail {
    pub(super) limit: Option<u64>,
    pub(super) offset: Option<u64>,
    /// `LIMIT 20 OFFSET 40` in the text rather than `LIMIT $n OFFSET $m`.
    pub(super) literal: bool,
}

impl Tail {
    /// Whether this tail may be written into the text: a limit, and no
    /// offset or one that starts one of the first [`LITERAL_PAGES`] pages
    /// of that limit. A few texts per shape then cover the list pages
    /// nearly every request asks for.
    pub(super) fn may_be_literal(&self) -> bool {
        match (self.limit, self.offset) {
            (Some(_), None) => true,
            (Some(n), Some(k)) => n > 0 && k % n == 0 && k / n < LITERAL_PAGES,
            (None, _) => false,
        }
    }

    /// Appends ` LIMIT ..` and ` OFFSET ..` to `sql`, whose text binds
    /// `bound_before` parameters already.
    pub(super) fn write(&self, sql: &mut String, bound_before: usize) {
        use std::fmt::Write as _;
        // Literals are integers strata holds, never text from outside.
        let mut next = bound_before + 1;
        for (word, n) in [(" LIMIT ", self.limit), (" OFFSET ", self.offset)] {
            let Some(n) = n else { continue };
            sql.push_str(word);
            if self.literal {
                let _ = write!(sql, "{n}");
            } else {
                let _ = write!(sql, "${next}");
                next += 1;
            }
        }
    }

    /// The numbers the tail binds, in placeholder order.
    pub(super) fn bound(&self) -> [Option<i64>; 2] {
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let bind = |n: Option<u64>| n.filter(|_| !self.literal).map(int);
        [bind(self.limit), bind(self.offset)]
    }

    /// [`Tail::bound`] as sea-query values.
    pub(super) fn values(&self) -> impl Iterator<Item = Value> {
        self.bound().into_iter().flatten().map(Value::from)
    }
}
