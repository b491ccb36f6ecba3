//! Keyset pagination: the condition that continues after a [`Cursor`],
//! the check that a cursor fits the query, and [`Query::fetch_keyset`].

use sea_query::{Alias, Expr, ExprTrait, SimpleExpr};

use super::Query;
use super::render::Stmt;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::model::Model;
use crate::model::column::{Bound, bound};
use crate::model::cursor::{self, Cursor, value_of};
use crate::tenant::ListsOn;

/// One batch of a keyset-paginated query.
#[derive(Debug, Clone, PartialEq)]
pub struct Keyset<M> {
    /// The rows of this batch.
    pub items: Vec<M>,
    /// Pass to [`Query::after`] for the next batch; `None` after the last.
    pub next: Option<Cursor>,
}

/// One comparison in a keyset condition; the `usize` indexes the
/// cursor's values.
#[derive(Debug, Clone, Copy)]
pub(super) enum Term {
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
pub(super) fn keyset_condition(terms: &[Vec<Term>], cursor: &Cursor) -> SimpleExpr {
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
pub(super) fn term_values<'a>(
    terms: &'a [Vec<Term>],
    cursor: &'a Cursor,
) -> impl Iterator<Item = &'a Bound> {
    terms
        .iter()
        .flatten()
        .filter_map(|t| t.value())
        .map(|i| &cursor.values[i])
}

impl<M: Model> Query<M> {
    /// The ordering with the primary key appended as a tie-breaker, so
    /// keyset and offset pages are a total order.
    pub(super) fn keyset_order(&self) -> Vec<(&'static str, bool)> {
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
    pub(super) fn keyset_terms(&self, cursor: &Cursor) -> Vec<Vec<Term>> {
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
    pub(super) fn check_cursor(&self) -> Result<()> {
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
    pub async fn fetch_keyset<E: Executor + ?Sized>(&self, e: &E) -> Result<Keyset<M>>
    where
        M: ListsOn<E::Scope>,
    {
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
}
