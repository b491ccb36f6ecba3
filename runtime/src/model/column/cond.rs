//! A filter as plain data, and how it becomes SQL.
//!
//! A [`Cond`] keeps a filter's shape (columns, operators, structure) apart
//! from its values, so a query can find its SQL by shape (`model::shape`)
//! and only turn into a sea-query expression when that SQL has to be
//! rendered; its values are bound in place from here, never copied.

use sea_query::{Alias, Expr, ExprTrait, SimpleExpr, Value};
use tokio_postgres::types::ToSql;

use crate::model::shape::Fingerprint;

/// A filter as plain data: its shape and its values (see the module doc).
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    /// `col <op> value`.
    Cmp(&'static str, CmpOp, Bound),
    /// `col LIKE pattern`, or `ILIKE` when the flag is set (the pattern is
    /// a `Value::String`).
    Like(&'static str, bool, Bound),
    /// `col BETWEEN low AND high`.
    Between(&'static str, Bound, Bound),
    /// `col IN (values)`.
    In(&'static str, Vec<Bound>),
    /// `col = ANY(array)`: one array parameter, whatever its length (a
    /// relation's keys).
    Any(&'static str, Bound),
    /// `col IS NULL` (`true`) or `IS NOT NULL`.
    Null(&'static str, bool),
    /// Both.
    And(Box<Cond>, Box<Cond>),
    /// Either.
    Or(Box<Cond>, Box<Cond>),
    /// Negation.
    Not(Box<Cond>),
}

/// A binary comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cond {
    /// The sea-query expression, for rendering.
    pub(crate) fn expr(&self) -> SimpleExpr {
        let col = |name: &'static str| Expr::col(Alias::new(name));
        match self {
            Cond::Cmp(c, op, v) => {
                let (c, v) = (col(c), v.0.clone());
                match op {
                    CmpOp::Eq => c.eq(v),
                    CmpOp::Ne => c.ne(v),
                    CmpOp::Gt => c.gt(v),
                    CmpOp::Ge => c.gte(v),
                    CmpOp::Lt => c.lt(v),
                    CmpOp::Le => c.lte(v),
                }
            }
            Cond::Like(c, false, pattern) => col(c).like(pattern_text(pattern)),
            Cond::Like(c, true, pattern) => col(c).binary(
                sea_query::extension::postgres::PgBinOper::ILike,
                Expr::val(pattern.0.clone()),
            ),
            Cond::Between(c, low, high) => col(c).between(low.0.clone(), high.0.clone()),
            // sea-query writes an empty `IN` as `$1 = $2` with two integer
            // parameters PostgreSQL cannot type; say what it means instead.
            Cond::In(_, values) if values.is_empty() => Expr::cust("FALSE"),
            Cond::In(c, values) => col(c).is_in(values.iter().map(|v| v.0.clone())),
            Cond::Any(c, array) => col(c).eq(sea_query::extension::postgres::PgFunc::any(
                Expr::val(array.0.clone()),
            )),
            Cond::Null(c, true) => col(c).is_null(),
            Cond::Null(c, false) => col(c).is_not_null(),
            Cond::And(a, b) => a.expr().and(b.expr()),
            Cond::Or(a, b) => a.expr().or(b.expr()),
            Cond::Not(a) => a.expr().not(),
        }
    }

    /// Mixes this condition's shape (everything but the values) into `f`.
    pub(crate) fn shape(&self, f: &mut Fingerprint) {
        match self {
            Cond::Cmp(c, op, _) => {
                f.word(1);
                f.name(c);
                f.word(*op as u64);
            }
            Cond::Between(c, _, _) => {
                f.word(2);
                f.name(c);
            }
            Cond::Like(c, insensitive, _) => {
                f.word(8);
                f.name(c);
                f.word(u64::from(*insensitive));
            }
            Cond::In(c, values) => {
                f.word(3);
                f.name(c);
                f.word(values.len() as u64);
            }
            Cond::Any(c, _) => {
                f.word(9);
                f.name(c);
            }
            Cond::Null(c, is_null) => {
                f.word(4);
                f.name(c);
                f.word(u64::from(*is_null));
            }
            Cond::And(a, b) | Cond::Or(a, b) => {
                f.word(if matches!(self, Cond::And(..)) { 5 } else { 6 });
                a.shape(f);
                b.shape(f);
            }
            Cond::Not(a) => {
                f.word(7);
                a.shape(f);
            }
        }
    }

    /// Whether this condition's shape is worth caching: an `IN` list longer
    /// than [`MAX_CACHED_IN`] usually has a length that comes from data, and
    /// each length would be a shape of its own.
    pub(crate) fn cacheable(&self) -> bool {
        match self {
            Cond::In(_, values) => values.len() <= MAX_CACHED_IN,
            Cond::And(a, b) | Cond::Or(a, b) => a.cacheable() && b.cacheable(),
            Cond::Not(a) => a.cacheable(),
            Cond::Cmp(..) | Cond::Like(..) | Cond::Between(..) | Cond::Null(..) | Cond::Any(..) => {
                true
            }
        }
    }

    /// Appends the bound values, in the order they appear in the SQL, as
    /// statement parameters borrowed from the condition (nothing copied).
    pub(crate) fn params<'a>(&'a self, out: &mut Vec<&'a (dyn ToSql + Sync)>) {
        match self {
            Cond::Cmp(_, _, v) | Cond::Like(_, _, v) | Cond::Any(_, v) => out.push(v),
            Cond::Between(_, low, high) => {
                out.push(low);
                out.push(high);
            }
            Cond::In(_, values) => {
                out.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
            }
            Cond::Null(..) => {}
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.params(out);
                b.params(out);
            }
            Cond::Not(a) => a.params(out),
        }
    }

    /// The same values as [`Cond::params`], copied, to compare with what
    /// sea-query binds when a shape is first rendered.
    pub(crate) fn values(&self, out: &mut Vec<Value>) {
        match self {
            Cond::Cmp(_, _, v) | Cond::Like(_, _, v) | Cond::Any(_, v) => out.push(v.0.clone()),
            Cond::Between(_, low, high) => out.extend([low.0.clone(), high.0.clone()]),
            Cond::In(_, values) => out.extend(values.iter().map(|v| v.0.clone())),
            Cond::Null(..) => {}
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.values(out);
                b.values(out);
            }
            Cond::Not(a) => a.values(out),
        }
    }
}

/// The longest `IN` list whose query shape is cached.
pub(crate) const MAX_CACHED_IN: usize = 16;

/// A value as a statement parameter.
pub(crate) type Bound = sea_query_postgres::PostgresValue;

pub(crate) fn bound(value: Value) -> Bound {
    sea_query_postgres::PostgresValue(value)
}

/// The text of a `LIKE` pattern.
fn pattern_text(pattern: &Bound) -> String {
    match &pattern.0 {
        Value::String(Some(s)) => s.to_string(),
        _ => String::new(),
    }
}
