//! The query builder: typed filters, ordering, offset and keyset pagination,
//! counts, and bulk update/delete, on sea-query.
//!
//! Every value is a bound parameter (sea-query's `build` returns `$n`
//! placeholders and the values separately); identifiers come from the
//! derive's column handles and are quoted by sea-query. The one exception
//! is `LIMIT` and `OFFSET` of the first pages, integers strata writes into
//! the text so PostgreSQL can keep a generic plan (see `tail`).
//! Soft-deleted rows are filtered out unless the query says
//! `with_deleted()` or `only_deleted()`.
//!
//! This module holds the builder; the rest of a query's life is one module
//! each: `render` (the statements, through sea-query), `tail` (`LIMIT` and
//! `OFFSET`), `cached` (which text runs: from the shape cache or rendered),
//! `fetch` (running a read), `page` and `keyset` (the two paginations) and
//! `write` (bulk update and delete).

mod cached;
mod fetch;
mod keyset;
mod page;
mod render;
mod scope;
mod stream;
mod tail;
mod write;

use std::marker::PhantomData;

use super::Model;
use super::column::{Cond, Filter, Order, bound};
use super::cursor::Cursor;

pub use keyset::Keyset;
pub use page::Page;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visibility {
    Live,
    WithDeleted,
    OnlyDeleted,
}

/// A query on model `M`, started with `M::query()`.
#[derive(Debug)]
pub struct Query<M> {
    filters: Vec<Cond>,
    order: Vec<Order<M>>,
    limit: Option<u64>,
    offset: Option<u64>,
    page: Option<(u64, u64)>,
    after: Option<Cursor>,
    visibility: Visibility,
    _marker: PhantomData<fn() -> M>,
}

impl<M> Clone for Query<M> {
    fn clone(&self) -> Self {
        Query {
            filters: self.filters.clone(),
            order: self.order.clone(),
            limit: self.limit,
            offset: self.offset,
            page: self.page,
            after: self.after.clone(),
            visibility: self.visibility,
            _marker: PhantomData,
        }
    }
}

impl<M: Model> Default for Query<M> {
    fn default() -> Self {
        Query {
            filters: Vec::new(),
            order: Vec::new(),
            limit: None,
            offset: None,
            page: None,
            after: None,
            visibility: Visibility::Live,
            _marker: PhantomData,
        }
    }
}

impl<M: Model> Query<M> {
    /// A query over every visible row.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a condition; several `filter`s are ANDed.
    #[must_use]
    pub fn filter(mut self, filter: Filter<M>) -> Self {
        self.filters.push(filter.cond);
        self
    }

    /// Adds a sort key; earlier keys sort first.
    #[must_use]
    pub fn order_by(mut self, order: Order<M>) -> Self {
        self.order.push(order);
        self
    }

    /// At most `n` rows.
    #[must_use]
    pub fn limit(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }

    /// Skips `n` rows.
    #[must_use]
    pub fn offset(mut self, n: u64) -> Self {
        self.offset = Some(n);
        self
    }

    /// Page `page` (from 1) of `per_page` rows, for [`Query::fetch_page`].
    ///
    /// Page 0 and a `per_page` of 0 are refused when the page is fetched
    /// (`Error::InvalidInput`), not adjusted: they usually come from a
    /// request, and a silent page 1 hides the mistake.
    #[must_use]
    pub fn page(mut self, page: u64, per_page: u64) -> Self {
        self.page = Some((page, per_page));
        self
    }

    /// Starts after `cursor` (from a previous [`Query::fetch_keyset`], or
    /// [`Cursor::from_token`]).
    ///
    /// Running the query returns `Error::InvalidInput` if the cursor came
    /// from a query on another model or with another ordering.
    #[must_use]
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }

    /// Includes soft-deleted rows.
    #[must_use]
    pub fn with_deleted(mut self) -> Self {
        self.visibility = Visibility::WithDeleted;
        self
    }

    /// Only soft-deleted rows.
    #[must_use]
    pub fn only_deleted(mut self) -> Self {
        self.visibility = Visibility::OnlyDeleted;
        self
    }

    /// Also loads `relation` for every row: `Deal::query().include(Deal::CUSTOMER)`,
    /// `.include(Deal::SCENARIOS.include(Scenario::TASKS))`, or a tuple of
    /// relations. Only relations declared on `M` are accepted; anything
    /// else is a compile error. See [`Including`](super::Including) for the
    /// result: one statement per relation and level.
    pub fn include<R: super::Relation<M>>(self, relation: R) -> super::Including<M, R> {
        super::Including::new(self, relation)
    }

    /// `"column" = ANY($n)` with `array` bound as one parameter: how a
    /// `has_many` include selects the children of many parents.
    pub(crate) fn filter_any(mut self, column: &'static str, array: sea_query::Value) -> Self {
        self.filters.push(Cond::Any(column, bound(array)));
        self
    }

    /// The page requested with [`Query::page`], if any.
    pub(crate) fn page_spec(&self) -> Option<(u64, u64)> {
        self.page
    }
}
