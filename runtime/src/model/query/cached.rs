//! Which SQL text a query statement runs: from the process-wide shape
//! cache (`model::shape`), or rendered for this call.
//!
//! A statement's text depends only on its shape, so it is rendered once
//! per shape; the fingerprint here names everything the text depends on.

use sea_query::Value;

use super::Query;
use super::keyset::term_values;
use super::render::Stmt;
use super::tail::{MAX_LITERAL_TAILS_PER_SHAPE, Tail};
use crate::model::Model;
use crate::model::column::Cond;
use crate::model::cursor;
use crate::model::shape::{self, Fingerprint};

/// A statement's text: from the shape cache, or rendered for this call.
pub(super) enum Sql {
    Static(&'static str),
    Owned(String),
}

impl Sql {
    pub(super) fn as_str(&self) -> &str {
        match self {
            Sql::Static(sql) => sql,
            Sql::Owned(sql) => sql,
        }
    }
}

impl<M: Model> Query<M> {
    /// The shape of statement `stmt`: everything its SQL text depends on
    /// but the `LIMIT` value, which the caller mixes in.
    fn fingerprint(&self, stmt: Stmt) -> Fingerprint {
        use std::hash::Hash;
        let mut f = Fingerprint::new(0x5e1ec7);
        std::any::TypeId::of::<M>().hash(&mut f);
        f.word(stmt.tag());
        f.word(self.visibility as u64);
        let (limit, offset) = self.tail(stmt);
        f.word(u64::from(limit.is_some()) | u64::from(offset.is_some()) << 1);
        f.word(self.filters.len() as u64);
        for c in &self.filters {
            c.shape(&mut f);
        }
        if !matches!(stmt, Stmt::Count | Stmt::Exists) {
            f.word(self.order.len() as u64);
            for o in &self.order {
                f.name(o.column);
                f.word(u64::from(o.descending));
            }
        }
        // A cursor's NULLs change its condition's text.
        match &self.after {
            None => f.word(0),
            Some(c) => {
                f.word(1 + c.values.len() as u64);
                for v in &c.values {
                    f.word(u64::from(cursor::is_null(&v.0)));
                }
            }
        }
        f
    }

    /// The values the query itself binds, in placeholder order: the
    /// filters', the cursor's (see [`keyset_condition`](super::keyset::keyset_condition)), then the tail's.
    /// Copied; only for checking a shape's first rendering.
    pub(super) fn values(&self, tail: Tail) -> Vec<Value> {
        let mut values = Vec::with_capacity(self.filters.len() + 2);
        for c in &self.filters {
            c.values(&mut values);
        }
        if let Some(cursor) = &self.after {
            let terms = self.keyset_terms(cursor);
            values.extend(term_values(&terms, cursor).map(|v| v.0.clone()));
        }
        values.extend(tail.values());
        values
    }

    /// The SQL of statement `stmt`, its tail, and the values to bind when
    /// they are not the query's own (see [`Query::rows`]).
    ///
    /// Rendered once per shape and then taken from the shape cache; the
    /// first rendering is also the check that the values this query binds
    /// itself are exactly the ones sea-query binds, in the same order, and
    /// a shape is only cached when they are. A query with an `IN` list
    /// longer than 16 values is always rendered (its length is likely
    /// data: caching every length would fill the cache).
    ///
    /// `LIMIT` and `OFFSET` are written into the text, not bound, when
    /// the offset starts one of the first [`LITERAL_PAGES`](super::tail::LITERAL_PAGES) pages: PostgreSQL
    /// plans an unknown `LIMIT $n` or `OFFSET $n` as if it covered a tenth
    /// of the rows, so a generic plan for such a statement looks far dearer
    /// than the custom plans and the server plans it afresh on every call
    /// (about 0.05 ms for a list page, more than running it). Each such
    /// tail is a shape of its own, at most [`MAX_LITERAL_TAILS_PER_SHAPE`]
    /// per shape; deeper pages, other offsets, tails past that cap and
    /// shapes rendered per call bind both numbers in one statement, as
    /// before, so numbers taken from requests cannot fill the shape cache
    /// or every connection's statement cache. A deep page is planned per
    /// call, which next to skipping its offset's rows costs little.
    pub(super) fn sql(&self, stmt: Stmt) -> (Sql, Tail, Option<Vec<Value>>) {
        let (limit, offset) = self.tail(stmt);
        let bound_tail = Tail {
            limit,
            offset,
            literal: false,
        };
        if !self.filters.iter().all(Cond::cacheable) {
            let (sql, values) = self.render(stmt, bound_tail);
            return (Sql::Owned(sql), bound_tail, Some(values));
        }
        let f = self.fingerprint(stmt);
        let literal = Tail {
            literal: true,
            ..bound_tail
        };
        if literal.may_be_literal() {
            let mut key = f;
            key.word(1);
            key.word(limit.unwrap_or(0));
            key.word(offset.unwrap_or(0));
            let key = key.key();
            if let Some(sql) = shape::get(key) {
                return (Sql::Static(sql), literal, None);
            }
            let owner = f.key();
            let cap = MAX_LITERAL_TAILS_PER_SHAPE;
            if shape::has_room(owner, cap) {
                let (sql, rendered) = self.render(stmt, literal);
                if rendered != self.values(literal) {
                    return (Sql::Owned(sql), literal, Some(rendered));
                }
                if let Some(sql) = shape::put_capped(key, sql, owner, cap) {
                    return (Sql::Static(sql), literal, None);
                }
            }
        }
        let mut key = f;
        key.word(2);
        let key = key.key();
        if let Some(sql) = shape::get(key) {
            return (Sql::Static(sql), bound_tail, None);
        }
        let (sql, rendered) = self.render(stmt, bound_tail);
        if rendered == self.values(bound_tail)
            && let Some(sql) = shape::put(key, sql.clone())
        {
            return (Sql::Static(sql), bound_tail, None);
        }
        (Sql::Owned(sql), bound_tail, Some(rendered))
    }

    /// The SQL and parameters `all` would run (for logging and tests).
    pub fn to_sql(&self) -> (String, Vec<Value>) {
        let (sql, tail, values) = self.sql(Stmt::All);
        let values = values.unwrap_or_else(|| self.values(tail));
        (sql.as_str().to_owned(), values)
    }
}
