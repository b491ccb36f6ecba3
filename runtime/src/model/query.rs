//! The query builder: typed filters, ordering, offset and keyset pagination,
//! counts, and bulk update/delete, on sea-query.
//!
//! Every value is a bound parameter (sea-query's `build` returns `$n`
//! placeholders and the values separately); identifiers come from the
//! derive's column handles and are quoted by sea-query. Soft-deleted rows
//! are filtered out unless the query says `with_deleted()` or `only_deleted()`.

use std::marker::PhantomData;

use sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, PostgresQueryBuilder, SelectStatement, SimpleExpr,
    TableRef, Value,
};
use sea_query_postgres::{PostgresBinder, PostgresValue, PostgresValues};
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::column::{Assignment, Cond, Filter, Order};
use super::ops::write_many;
use super::shape::{self, Fingerprint};
use super::{Model, ModelMeta};
use crate::error::{Error, Result};
use crate::executor::{Executor, OpKind, run_query};

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

/// Where a keyset batch ended: the ordering columns' values of its last
/// row, plus the primary key as a tie-breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    values: Vec<Value>,
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
    #[must_use]
    pub fn page(mut self, page: u64, per_page: u64) -> Self {
        self.page = Some((std::cmp::max(page, 1), std::cmp::max(per_page, 1)));
        self
    }

    /// Starts after `cursor` (from a previous [`Query::fetch_keyset`]).
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
            conditions.push(self.keyset_condition(cursor));
        }
        conditions
    }

    /// The ordering with the primary key appended as a tie-breaker, so
    /// keyset pagination is total.
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

    /// `(a > $1) OR (a = $1 AND b > $2) OR ...`, with `<` for descending keys.
    fn keyset_condition(&self, cursor: &Cursor) -> SimpleExpr {
        let keys = self.keyset_order();
        let mut any: Option<SimpleExpr> = None;
        for i in 0..keys.len().min(cursor.values.len()) {
            let mut all: Option<SimpleExpr> = None;
            for (j, (col, desc)) in keys.iter().enumerate().take(i + 1) {
                let c = Expr::col(Alias::new(*col));
                let v = cursor.values[j].clone();
                let term = if j < i {
                    c.eq(v)
                } else if *desc {
                    c.lt(v)
                } else {
                    c.gt(v)
                };
                all = Some(match all {
                    None => term,
                    Some(acc) => acc.and(term),
                });
            }
            if let Some(all) = all {
                any = Some(match any {
                    None => all,
                    Some(acc) => acc.or(all),
                });
            }
        }
        any.unwrap_or_else(|| Expr::val(true))
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

    /// The `LIMIT` and `OFFSET` statement `stmt` carries.
    fn tail(&self, stmt: Stmt) -> (Option<u64>, Option<u64>) {
        match stmt {
            Stmt::All => (self.limit, self.offset),
            Stmt::Optional => (Some(1), self.offset),
            Stmt::Count => (None, None),
            Stmt::Exists => (Some(1), None),
            Stmt::Page { limit, offset } => (Some(limit), Some(offset)),
            Stmt::Keyset { limit } => (Some(limit), None),
        }
    }

    /// Statement `stmt` of this query, as sea-query renders it.
    fn statement(&self, stmt: Stmt) -> SelectStatement {
        let mut q = match stmt {
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
            Stmt::Keyset { .. } => {
                let mut q = self.select();
                self.order_by_keyset(&mut q);
                q
            }
            Stmt::All | Stmt::Optional | Stmt::Page { .. } => {
                let mut q = self.select();
                self.ordered(&mut q);
                q
            }
        };
        let (limit, offset) = self.tail(stmt);
        if let Some(n) = limit {
            q.limit(n);
        }
        if let Some(n) = offset {
            q.offset(n);
        }
        q
    }

    /// The shape of statement `stmt`: everything its SQL text depends on.
    fn fingerprint(&self, stmt: Stmt) -> u128 {
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
        f.key()
    }

    /// The values statement `stmt` binds, in placeholder order: the
    /// filters', then `LIMIT` and `OFFSET`. Copied; only for checking a
    /// shape's first rendering.
    fn values(&self, stmt: Stmt) -> Vec<Value> {
        let mut values = Vec::with_capacity(self.filters.len() + 2);
        for c in &self.filters {
            c.values(&mut values);
        }
        let (limit, offset) = self.tail(stmt);
        values.extend(limit.map(Value::from));
        values.extend(offset.map(Value::from));
        values
    }

    /// The SQL of statement `stmt`, and the values to bind when they are not
    /// the query's own (see [`Query::rows`]). Rendered once per shape and
    /// then taken from the shape cache; the first rendering is also the
    /// check that the values this query binds itself are exactly the ones
    /// sea-query binds, in the same order, and a shape is only cached when
    /// they are. A keyset cursor's values are not the query's own, so a
    /// query with one is always rendered, as is one with an `IN` list
    /// longer than 16 values (its length is likely data: caching every
    /// length would fill the cache).
    fn sql(&self, stmt: Stmt) -> (Sql, Option<Vec<Value>>) {
        if self.after.is_some() || !self.filters.iter().all(Cond::cacheable) {
            let (sql, values) = self.statement(stmt).build(PostgresQueryBuilder);
            return (Sql::Owned(sql), Some(values.0));
        }
        let key = self.fingerprint(stmt);
        if let Some(sql) = shape::get(key) {
            return (Sql::Static(sql), None);
        }
        let (sql, rendered) = self.statement(stmt).build(PostgresQueryBuilder);
        if rendered.0 == self.values(stmt)
            && let Some(sql) = shape::put(key, sql.clone())
        {
            return (Sql::Static(sql), None);
        }
        (Sql::Owned(sql), Some(rendered.0))
    }

    /// The SQL and parameters `all` would run (for logging and tests).
    pub fn to_sql(&self) -> (String, Vec<Value>) {
        let (sql, values) = self.sql(Stmt::All);
        let values = values.unwrap_or_else(|| self.values(Stmt::All));
        (sql.as_str().to_owned(), values)
    }

    /// Runs statement `stmt`. The parameters borrow the filters' values in
    /// place: nothing is copied per call.
    async fn rows<E: Executor + ?Sized>(&self, e: &E, stmt: Stmt) -> Result<Vec<Row>> {
        let (sql, rendered) = self.sql(stmt);
        if let Some(values) = rendered {
            let values = PostgresValues(values.into_iter().map(PostgresValue).collect());
            return run_query(e, sql.as_str(), &values.as_params(), OpKind::Read).await;
        }
        let (limit, offset) = self.tail(stmt);
        let tail = [limit, offset].map(|n| n.map(|n| PostgresValue(Value::from(n))));
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(self.filters.len() + 2);
        for c in &self.filters {
            c.params(&mut params);
        }
        params.extend(tail.iter().flatten().map(|v| v as &(dyn ToSql + Sync)));
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

    /// The page set with [`Query::page`] (page 1 of 20 if none), with the total.
    pub async fn fetch_page<E: Executor + ?Sized>(&self, e: &E) -> Result<Page<M>> {
        let (page, per_page) = self.page.unwrap_or((1, 20));
        let total = self.count(e).await?;
        let stmt = Stmt::Page {
            limit: per_page,
            offset: (page - 1).saturating_mul(per_page),
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
    /// go. The ordering columns must not be NULL.
    pub async fn fetch_keyset<E: Executor + ?Sized>(&self, e: &E) -> Result<Keyset<M>> {
        let limit = self.limit.unwrap_or(100);
        // Order by the full key, tie-breaker included, on every batch.
        let rows = self.rows(e, Stmt::Keyset { limit }).await?;
        let next = match rows.last() {
            Some(last) if u64::try_from(rows.len()).unwrap_or(u64::MAX) == limit => {
                let values = self
                    .keyset_order()
                    .iter()
                    .map(|(col, _)| value_of(last, col))
                    .collect::<Result<Vec<_>>>()?;
                Some(Cursor { values })
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
        let mut q = sea_query::Query::delete();
        q.from_table(table_ref(M::META));
        for c in self.conditions() {
            q.and_where(c);
        }
        let (sql, values) = q.build_postgres(PostgresQueryBuilder);
        write_many::<M, E>(e, &sql, &values.as_params()).await
    }
}

/// Reads column `name` of `row` back into a bindable value, for cursors.
fn value_of(row: &Row, name: &str) -> Result<Value> {
    let idx = row
        .columns()
        .iter()
        .position(|c| c.name() == name)
        .ok_or_else(|| Error::Decode {
            column: name.to_owned(),
            source: "ordering column not selected".into(),
        })?;
    let ty = row.columns()[idx].type_().clone();
    let decode = |e: tokio_postgres::Error| Error::Decode {
        column: name.to_owned(),
        source: Box::new(e),
    };
    let value = match ty {
        Type::BOOL => row.try_get::<_, Option<bool>>(idx).map(Value::from),
        Type::INT2 => row.try_get::<_, Option<i16>>(idx).map(Value::from),
        Type::INT4 => row.try_get::<_, Option<i32>>(idx).map(Value::from),
        Type::INT8 => row.try_get::<_, Option<i64>>(idx).map(Value::from),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(idx).map(Value::from),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(idx).map(Value::from),
        Type::NUMERIC => row
            .try_get::<_, Option<rust_decimal::Decimal>>(idx)
            .map(Value::from),
        Type::UUID => row.try_get::<_, Option<uuid::Uuid>>(idx).map(Value::from),
        Type::DATE => row
            .try_get::<_, Option<chrono::NaiveDate>>(idx)
            .map(Value::from),
        Type::TIMESTAMP => row
            .try_get::<_, Option<chrono::NaiveDateTime>>(idx)
            .map(Value::from),
        Type::TIMESTAMPTZ => row
            .try_get::<_, Option<chrono::DateTime<chrono::Utc>>>(idx)
            .map(Value::from),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            row.try_get::<_, Option<String>>(idx).map(Value::from)
        }
        other => {
            return Err(Error::Decode {
                column: name.to_owned(),
                source: format!("keyset pagination cannot order by a {other} column").into(),
            });
        }
    };
    value.map_err(decode)
}
