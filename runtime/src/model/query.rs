//! The query builder: typed filters, ordering, offset and keyset pagination,
//! counts, and bulk update/delete, on sea-query.
//!
//! Every value is a bound parameter (sea-query's `build` returns `$n`
//! placeholders and the values separately); identifiers come from the
//! derive's column handles and are quoted by sea-query. The one exception
//! is `LIMIT` and `OFFSET` of the first pages, integers strata writes into
//! the text so PostgreSQL can keep a generic plan (see [`Query::sql`]).
//! Soft-deleted rows are filtered out unless the query says
//! `with_deleted()` or `only_deleted()`.

use std::marker::PhantomData;

use sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, PostgresQueryBuilder, SelectStatement, SimpleExpr,
    TableRef, Value,
};
use sea_query_postgres::{PostgresBinder, PostgresValue, PostgresValues};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::column::{Assignment, Bound, Cond, Filter, Order, bound};
use super::cursor::{self, Cursor, value_of};
use super::ops::write_many;
use super::shape::{self, Fingerprint};
use super::{Model, ModelMeta};
use crate::error::{Error, Result};
use crate::executor::{Executor, OpKind};
use crate::pipeline::{counted, run_query};

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

/// One page of an offset-paginated query.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Page<M> {
    /// The rows of this page.
    pub items: Vec<M>,
    /// Rows matching the query on all pages.
    pub total: u64,
    /// This page's number, from 1.
    pub page: u64,
    /// The page size.
    pub per_page: u64,
    /// `ceil(total / per_page)`.
    pub total_pages: u64,
}

/// One batch of a keyset-paginated query.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyset<M> {
    /// The rows of this batch.
    pub items: Vec<M>,
    /// Pass to [`Query::after`] for the next batch; `None` after the last.
    pub next: Option<Cursor>,
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

/// Which statement of a query runs; part of its shape.
#[derive(Debug, Clone, Copy)]
enum Stmt {
    All,
    Optional,
    Count,
    Exists,
    Page { limit: u64, offset: u64 },
    Keyset { limit: u64 },
}

impl Stmt {
    fn tag(self) -> u64 {
        match self {
            Stmt::All => 1,
            Stmt::Optional => 2,
            Stmt::Count => 3,
            Stmt::Exists => 4,
            Stmt::Page { .. } => 5,
            Stmt::Keyset { .. } => 6,
        }
    }
}

/// A statement's text: from the shape cache, or rendered for this call.
enum Sql {
    Static(&'static str),
    Owned(String),
}

impl Sql {
    fn as_str(&self) -> &str {
        match self {
            Sql::Static(sql) => sql,
            Sql::Owned(sql) => sql,
        }
    }
}

/// Statements with their `LIMIT` and `OFFSET` written into the text that
/// one statement shape may cache; further ones bind them (see
/// [`Query::sql`]).
pub(crate) const MAX_LITERAL_TAILS_PER_SHAPE: usize = 32;

/// Pages (of the query's own limit) whose `OFFSET` may be written into the
/// text: pages 1 to 5.
pub(crate) const LITERAL_PAGES: u64 = 5;

/// A statement's `LIMIT` and `OFFSET`, appended by strata after the text
/// sea-query renders, since sea-query always binds them.
#[derive(Debug, Clone, Copy)]
struct Tail {
    limit: Option<u64>,
    offset: Option<u64>,
    /// `LIMIT 20 OFFSET 40` in the text rather than `LIMIT $n OFFSET $m`.
    literal: bool,
}

impl Tail {
    /// Whether this tail may be written into the text: a limit, and no
    /// offset or one that starts one of the first [`LITERAL_PAGES`] pages
    /// of that limit. A few texts per shape then cover the list pages
    /// nearly every request asks for.
    fn may_be_literal(&self) -> bool {
        match (self.limit, self.offset) {
            (Some(_), None) => true,
            (Some(n), Some(k)) => n > 0 && k % n == 0 && k / n < LITERAL_PAGES,
            (None, _) => false,
        }
    }

    /// Appends ` LIMIT ..` and ` OFFSET ..` to `sql`, whose text binds
    /// `bound_before` parameters already.
    fn write(&self, sql: &mut String, bound_before: usize) {
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
    fn bound(&self) -> [Option<i64>; 2] {
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let bind = |n: Option<u64>| n.filter(|_| !self.literal).map(int);
        [bind(self.limit), bind(self.offset)]
    }

    /// [`Tail::bound`] as sea-query values.
    fn values(&self) -> impl Iterator<Item = Value> {
        self.bound().into_iter().flatten().map(Value::from)
    }
}

/// One comparison in a keyset condition; the `usize` indexes the
/// cursor's values.
#[derive(Debug, Clone, Copy)]
enum Term {
    Eq(&'static str, usize),
    IsNull(&'static str),
    NotNull(&'static str),
    Lt(&'static str, usize),
    Gt(&'static str, usize),
    /// `(col > v OR col IS NULL)`: after `v` ascending, NULLs included.
    GtOrNull(&'static str, usize),
}

impl Term {
    /// The cursor value it binds, if any.
    fn value(self) -> Option<usize> {
        match self {
            Term::Eq(_, i) | Term::Lt(_, i) | Term::Gt(_, i) | Term::GtOrNull(_, i) => Some(i),
            Term::IsNull(_) | Term::NotNull(_) => None,
        }
    }

    fn expr(self, cursor: &Cursor) -> SimpleExpr {
        let col = |c: &'static str| Expr::col(Alias::new(c));
        let v = |i: usize| cursor.values[i].0.clone();
        match self {
            Term::Eq(c, i) => col(c).eq(v(i)),
            Term::IsNull(c) => col(c).is_null(),
            Term::NotNull(c) => col(c).is_not_null(),
            Term::Lt(c, i) => col(c).lt(v(i)),
            Term::Gt(c, i) => col(c).gt(v(i)),
            Term::GtOrNull(c, i) => col(c).gt(v(i)).or(col(c).is_null()),
        }
    }
}

/// The keyset condition of [`Query::keyset_terms`]; `FALSE` when nothing
/// can follow the cursor (the last key ascending was NULL).
fn keyset_condition(terms: &[Vec<Term>], cursor: &Cursor) -> SimpleExpr {
    let mut any: Option<SimpleExpr> = None;
    for all in terms {
        let mut conj: Option<SimpleExpr> = None;
        for term in all {
            let e = term.expr(cursor);
            conj = Some(match conj {
                None => e,
                Some(acc) => acc.and(e),
            });
        }
        if let Some(conj) = conj {
            any = Some(match any {
                None => conj,
                Some(acc) => acc.or(conj),
            });
        }
    }
    any.unwrap_or_else(|| Expr::cust("FALSE"))
}

/// The cursor values `terms` bind, in the order their placeholders appear.
fn term_values<'a>(terms: &'a [Vec<Term>], cursor: &'a Cursor) -> impl Iterator<Item = &'a Bound> {
    terms
        .iter()
        .flatten()
        .filter_map(|t| t.value())
        .map(|i| &cursor.values[i])
}

fn table_ref(meta: &ModelMeta) -> TableRef {
    use sea_query::IntoTableRef;
    match meta.schema {
        Some(schema) => (Alias::new(schema), Alias::new(meta.table)).into_table_ref(),
        None => Alias::new(meta.table).into_table_ref(),
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

    /// The WHERE conditions: filters, soft-delete visibility, keyset start.
    fn conditions(&self) -> Vec<SimpleExpr> {
        let mut conditions: Vec<SimpleExpr> = self.filters.iter().map(Cond::expr).collect();
        if let Some(deleted_at) = M::META.deleted_at {
            let col = Expr::col(Alias::new(deleted_at));
            match self.visibility {
                Visibility::Live => conditions.push(col.is_null()),
                Visibility::OnlyDeleted => conditions.push(col.is_not_null()),
                Visibility::WithDeleted => {}
            }
        }
        if let Some(cursor) = &self.after {
            conditions.push(keyset_condition(&self.keyset_terms(cursor), cursor));
        }
        conditions
    }

    /// The ordering with the primary key appended as a tie-breaker, so
    /// keyset and offset pages are a total order.
    fn keyset_order(&self) -> Vec<(&'static str, bool)> {
        let mut keys: Vec<(&'static str, bool)> = self
            .order
            .iter()
            .map(|o| (o.column, o.descending))
            .collect();
        if !keys.iter().any(|(c, _)| *c == M::META.primary_key) {
            keys.push((M::META.primary_key, false));
        }
        keys
    }

    /// The cursor shape of this query: what a cursor must come from to be
    /// used with it.
    fn cursor_shape(&self) -> u64 {
        cursor::shape(M::META, &self.keyset_order())
    }

    /// Whether column `name` may hold NULL (an `Option` field). A name the
    /// model does not list is taken as nullable, which only costs an
    /// `IS NULL` test.
    fn nullable(name: &str) -> bool {
        M::META
            .columns
            .iter()
            .find(|c| c.name == name)
            .is_none_or(|c| c.nullable)
    }

    /// The rows after `cursor` in keyset order, as a disjunction of
    /// conjunctions: `(a > $1) OR (a = $2 AND b > $3) OR ...`, with `<` for
    /// descending keys.
    ///
    /// NULLs sort as PostgreSQL sorts them by default, as if above every
    /// value: last ascending, first descending. So after a value `v`
    /// ascending come `a > v` and the NULLs, after `v` descending only
    /// `a < v`; after a NULL ascending comes nothing of that key, after a
    /// NULL descending every non-NULL; and a NULL key equals only `IS NULL`.
    fn keyset_terms(&self, cursor: &Cursor) -> Vec<Vec<Term>> {
        let keys = self.keyset_order();
        let null = |i: usize| cursor::is_null(&cursor.values[i].0);
        let mut any = Vec::with_capacity(keys.len());
        for (i, &(col, desc)) in keys.iter().enumerate().take(cursor.values.len()) {
            let after = match (null(i), desc) {
                (true, false) => continue,
                (true, true) => Term::NotNull(col),
                (false, true) => Term::Lt(col, i),
                (false, false) if Self::nullable(col) => Term::GtOrNull(col, i),
                (false, false) => Term::Gt(col, i),
            };
            let mut all: Vec<Term> = keys[..i]
                .iter()
                .enumerate()
                .map(|(j, &(col, _))| {
                    if null(j) {
                        Term::IsNull(col)
                    } else {
                        Term::Eq(col, j)
                    }
                })
                .collect();
            all.push(after);
            any.push(all);
        }
        any
    }

    /// `Error::InvalidInput` unless the cursor given to [`Query::after`]
    /// came from a query of this shape (model, ordering columns and
    /// directions) and holds a value of each key column's type.
    fn check_cursor(&self) -> Result<()> {
        let Some(cursor) = &self.after else {
            return Ok(());
        };
        let foreign = || Error::InvalidInput {
            reason: format!(
                "the cursor belongs to another query: a cursor only continues a query on `{}` \
                 with the same order_by columns and directions",
                M::META.name
            ),
        };
        let keys = self.keyset_order();
        if cursor.shape != self.cursor_shape() || cursor.values.len() != keys.len() {
            return Err(foreign());
        }
        for (v, (col, _)) in cursor.values.iter().zip(&keys) {
            let fits = M::META
                .columns
                .iter()
                .find(|c| c.name == *col)
                .zip(cursor::pg_type(&v.0))
                .is_some_and(|(c, ty)| (c.accepts)(&ty));
            if !fits {
                return Err(foreign());
            }
        }
        Ok(())
    }

    fn select(&self) -> SelectStatement {
        let mut q = sea_query::Query::select();
        q.expr(Expr::cust(M::META.select_list))
            .from(table_ref(M::META));
        for c in self.conditions() {
            q.and_where(c);
        }
        q
    }

    /// `ORDER BY` the query's keys plus the primary key.
    fn order_by_keyset(&self, q: &mut SelectStatement) {
        for (col, desc) in self.keyset_order() {
            let order = if desc {
                sea_query::Order::Desc
            } else {
                sea_query::Order::Asc
            };
            q.order_by(Alias::new(col), order);
        }
    }

    fn ordered(&self, q: &mut SelectStatement) {
        if self.after.is_some() {
            self.order_by_keyset(q);
        } else {
            for o in &self.order {
                q.order_by(Alias::new(o.column), o.sea());
            }
        }
    }

    /// The page requested with [`Query::page`], if any.
    pub(crate) fn page_spec(&self) -> Option<(u64, u64)> {
        self.page
    }

    /// The `LIMIT` and `OFFSET` statement `stmt` carries. `OFFSET 0` is
    /// left out: it changes nothing but the statement's text.
    fn tail(&self, stmt: Stmt) -> (Option<u64>, Option<u64>) {
        let (limit, offset) = match stmt {
            Stmt::All => (self.limit, self.offset),
            Stmt::Optional => (Some(1), self.offset),
            Stmt::Count => (None, None),
            Stmt::Exists => (Some(1), None),
            Stmt::Page { limit, offset } => (Some(limit), Some(offset)),
            Stmt::Keyset { limit } => (Some(limit), None),
        };
        (limit, offset.filter(|n| *n > 0))
    }

    /// Statement `stmt` of this query without its `LIMIT` and `OFFSET`,
    /// as sea-query renders it ([`Tail`] writes those).
    fn statement(&self, stmt: Stmt) -> SelectStatement {
        match stmt {
            Stmt::Count => {
                let mut q = sea_query::Query::select();
                q.expr(Func::count(Expr::col(Asterisk)))
                    .from(table_ref(M::META));
                for c in self.conditions() {
                    q.and_where(c);
                }
                q
            }
            Stmt::Exists => {
                let mut q = sea_query::Query::select();
                q.expr(Expr::cust("1")).from(table_ref(M::META));
                for c in self.conditions() {
                    q.and_where(c);
                }
                q
            }
            // Offset pages are ordered by the full key too: ties in the
            // query's own order would otherwise land on two pages or none.
            Stmt::Keyset { .. } | Stmt::Page { .. } => {
                let mut q = self.select();
                self.order_by_keyset(&mut q);
                q
            }
            Stmt::All | Stmt::Optional => {
                let mut q = self.select();
                self.ordered(&mut q);
                q
            }
        }
    }

    /// The SQL text of statement `stmt` with `tail`, and the values
    /// sea-query bound for it, in placeholder order.
    fn render(&self, stmt: Stmt, tail: Tail) -> (String, Vec<Value>) {
        let (mut sql, values) = self.statement(stmt).build(PostgresQueryBuilder);
        let mut values = values.0;
        tail.write(&mut sql, values.len());
        values.extend(tail.values());
        (sql, values)
    }

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
    /// filters', the cursor's (see [`keyset_condition`]), then the tail's.
    /// Copied; only for checking a shape's first rendering.
    fn values(&self, tail: Tail) -> Vec<Value> {
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
    /// the offset starts one of the first [`LITERAL_PAGES`] pages: PostgreSQL
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
    fn sql(&self, stmt: Stmt) -> (Sql, Tail, Option<Vec<Value>>) {
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

    /// Runs statement `stmt`. The parameters borrow the filters' and the
    /// cursor's values in place: nothing is copied per call.
    ///
    /// Returns `Error::InvalidInput` for a cursor of another query, or a
    /// `LIMIT` or `OFFSET` past PostgreSQL's `bigint`.
    async fn rows<E: Executor + ?Sized>(&self, e: &E, stmt: Stmt) -> Result<Vec<Row>> {
        counted(e, self.check_cursor())?;
        let (limit, offset) = self.tail(stmt);
        for (what, n) in [("limit", limit), ("offset", offset)] {
            if n.is_some_and(|n| i64::try_from(n).is_err()) {
                return counted(
                    e,
                    Err(Error::InvalidInput {
                        reason: format!("{what} {} is past PostgreSQL's bigint", n.unwrap_or(0)),
                    }),
                );
            }
        }
        let (sql, tail, rendered) = self.sql(stmt);
        if let Some(values) = rendered {
            let values = PostgresValues(values.into_iter().map(PostgresValue).collect());
            return run_query(e, sql.as_str(), &values.as_params(), OpKind::Read).await;
        }
        let tail_values = tail.bound().map(|n| n.map(|n| bound(Value::from(n))));
        let terms = self.after.as_ref().map(|c| self.keyset_terms(c));
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(self.filters.len() + 2);
        for c in &self.filters {
            c.params(&mut params);
        }
        if let (Some(cursor), Some(terms)) = (&self.after, &terms) {
            params.extend(term_values(terms, cursor).map(|v| v as &(dyn ToSql + Sync)));
        }
        params.extend(
            tail_values
                .iter()
                .flatten()
                .map(|v| v as &(dyn ToSql + Sync)),
        );
        run_query(e, sql.as_str(), &params, OpKind::Read).await
    }

    fn decode(rows: &[Row]) -> Result<Vec<M>> {
        // Not `collect::<Result<Vec<_>>>()`: its size hint is 0, so a
        // 20-row page would grow the vector four times.
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(M::from_row(row)?);
        }
        Ok(out)
    }

    /// Every matching row.
    pub async fn all<E: Executor + ?Sized>(&self, e: &E) -> Result<Vec<M>> {
        Self::decode(&self.rows(e, Stmt::All).await?)
    }

    /// The first matching row; `Error::NotFound` if there is none.
    pub async fn one<E: Executor + ?Sized>(&self, e: &E) -> Result<M> {
        self.optional(e).await?.ok_or(Error::NotFound {
            what: M::META.table,
        })
    }

    /// The first matching row, if any.
    pub async fn optional<E: Executor + ?Sized>(&self, e: &E) -> Result<Option<M>> {
        let rows = self.rows(e, Stmt::Optional).await?;
        rows.first().map(M::from_row).transpose()
    }

    /// How many rows match (ignores limit, offset and order).
    pub async fn count<E: Executor + ?Sized>(&self, e: &E) -> Result<u64> {
        let rows = self.rows(e, Stmt::Count).await?;
        let n: i64 = rows
            .first()
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(|e| Error::Decode {
                column: "count".into(),
                source: Box::new(e),
            })?
            .unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether any row matches.
    pub async fn exists<E: Executor + ?Sized>(&self, e: &E) -> Result<bool> {
        Ok(!self.rows(e, Stmt::Exists).await?.is_empty())
    }

    /// The page set with [`Query::page`] (page 1 of 20 if none), with the
    /// total.
    ///
    /// Rows are ordered by the query's `order_by` keys and then by the
    /// primary key, so rows that tie on the keys keep one place and every
    /// row is on exactly one page (as long as the rows do not change
    /// between pages; keyset pagination is the way to page through a table
    /// that changes).
    ///
    /// Returns `Error::InvalidInput` for page 0, a `per_page` of 0, or a
    /// page whose offset is past PostgreSQL's `bigint`.
    pub async fn fetch_page<E: Executor + ?Sized>(&self, e: &E) -> Result<Page<M>> {
        let (page, per_page) = self.page.unwrap_or((1, 20));
        if page == 0 || per_page == 0 {
            return counted(
                e,
                Err(Error::InvalidInput {
                    reason: format!(
                        "page {page} of per_page {per_page}: pages count from 1 and hold at least one row"
                    ),
                }),
            );
        }
        let offset = counted(
            e,
            (page - 1)
                .checked_mul(per_page)
                .ok_or_else(|| Error::InvalidInput {
                    reason: format!("page {page} of per_page {per_page} is past any table"),
                }),
        )?;
        let total = self.count(e).await?;
        let stmt = Stmt::Page {
            limit: per_page,
            offset,
        };
        let items = Self::decode(&self.rows(e, stmt).await?)?;
        Ok(Page {
            items,
            total,
            page,
            per_page,
            total_pages: total.div_ceil(per_page),
        })
    }

    /// The next `limit` rows (default 100) after the cursor given to
    /// [`Query::after`], in the query's order with the primary key as
    /// tie-breaker, and the cursor for the batch after them.
    ///
    /// Unlike offsets, keyset pages stay correct and fast however deep they
    /// go. Ordering columns may be nullable: NULLs sort as PostgreSQL sorts
    /// them by default (after every value ascending, before every value
    /// descending), and the cursor condition follows the same order.
    ///
    /// Returns `Error::InvalidInput` if the cursor came from a query on
    /// another model or with another ordering.
    pub async fn fetch_keyset<E: Executor + ?Sized>(&self, e: &E) -> Result<Keyset<M>> {
        let limit = self.limit.unwrap_or(100);
        // Order by the full key, tie-breaker included, on every batch.
        let rows = self.rows(e, Stmt::Keyset { limit }).await?;
        let next = match rows.last() {
            Some(last) if u64::try_from(rows.len()).unwrap_or(u64::MAX) == limit => {
                let values = self
                    .keyset_order()
                    .iter()
                    .map(|(col, _)| value_of(last, col).map(bound))
                    .collect::<Result<Vec<_>>>()?;
                Some(Cursor {
                    shape: self.cursor_shape(),
                    values,
                })
            }
            _ => None,
        };
        Ok(Keyset {
            items: Self::decode(&rows)?,
            next,
        })
    }

    /// Sets columns on every matching row; returns how many changed.
    /// Soft-deleted rows are left alone unless the query includes them.
    pub async fn update<E, I>(&self, e: &E, assignments: I) -> Result<u64>
    where
        E: Executor + ?Sized,
        I: IntoIterator<Item = Assignment<M>>,
    {
        counted(e, self.check_cursor())?;
        let mut q = sea_query::Query::update();
        q.table(table_ref(M::META));
        let mut any = false;
        for a in assignments {
            q.value(Alias::new(a.column), a.value);
            any = true;
        }
        if !any {
            return Ok(0);
        }
        for c in self.conditions() {
            q.and_where(c);
        }
        let (sql, values) = q.build_postgres(PostgresQueryBuilder);
        write_many::<M, E>(e, &sql, &values.as_params()).await
    }

    /// Deletes every matching row (soft delete when the model has one);
    /// returns how many.
    pub async fn delete<E: Executor + ?Sized>(&self, e: &E) -> Result<u64> {
        counted(e, self.check_cursor())?;
        match M::META.deleted_at {
            Some(deleted_at) => {
                let mut q = sea_query::Query::update();
                q.table(table_ref(M::META))
                    .value(Alias::new(deleted_at), Expr::cust("now()"));
                let mut live = self.clone();
                live.visibility = Visibility::Live;
                for c in live.conditions() {
                    q.and_where(c);
                }
                let (sql, values) = q.build_postgres(PostgresQueryBuilder);
                write_many::<M, E>(e, &sql, &values.as_params()).await
            }
            None => self.hard_delete(e).await,
        }
    }

    /// Removes every matching row for good; returns how many.
    pub async fn hard_delete<E: Executor + ?Sized>(&self, e: &E) -> Result<u64> {
        counted(e, self.check_cursor())?;
        let mut q = sea_query::Query::delete();
        q.from_table(table_ref(M::META));
        for c in self.conditions() {
            q.and_where(c);
        }
        let (sql, values) = q.build_postgres(PostgresQueryBuilder);
        write_many::<M, E>(e, &sql, &values.as_params()).await
    }
}
