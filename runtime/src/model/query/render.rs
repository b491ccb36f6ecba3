//! The statements of a query as sea-query renders them: the `SELECT`
//! (rows, one row, count, exists) with its `WHERE` and `ORDER BY`, and the
//! table reference bulk writes share. `LIMIT` and `OFFSET` are left to
//! `tail`.

use sea_query::{
    Alias, Asterisk, Expr, ExprTrait, Func, PostgresQueryBuilder, SelectStatement, SimpleExpr,
    TableRef, Value,
};

use super::keyset::keyset_condition;
use super::tail::Tail;
use super::{Query, Visibility};
use crate::model::column::Cond;
use crate::model::{Model, ModelMeta};

/// Which statement of a query runs; part of its shape.
#[derive(Debug, Clone, Copy)]
pub(super) enum Stmt {
    All,
    Optional,
    Count,
    Exists,
    Page { limit: u64, offset: u64 },
    Keyset { limit: u64 },
}

impl Stmt {
    pub(super) fn tag(self) -> u64 {
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

pub(super) fn table_ref(meta: &ModelMeta) -> TableRef {
    use sea_query::IntoTableRef;
    match meta.schema {
        Some(schema) => (Alias::new(schema), Alias::new(meta.table)).into_table_ref(),
        None => Alias::new(meta.table).into_table_ref(),
    }
}

impl<M: Model> Query<M> {
    /// The WHERE conditions: filters, soft-delete visibility, keyset start.
    pub(super) fn conditions(&self) -> Vec<SimpleExpr> {
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
    pub(super) fn order_by_keyset(&self, q: &mut SelectStatement) {
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

    /// The `LIMIT` and `OFFSET` statement `stmt` carries. `OFFSET 0` is
    /// left out: it changes nothing but the statement's text.
    pub(super) fn tail(&self, stmt: Stmt) -> (Option<u64>, Option<u64>) {
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
    pub(super) fn render(&self, stmt: Stmt, tail: Tail) -> (String, Vec<Value>) {
        let (mut sql, values) = self.statement(stmt).build(PostgresQueryBuilder);
        let mut values = values.0;
        tail.write(&mut sql, values.len());
        values.extend(tail.values());
        (sql, values)
    }
}
