//! The terms a query is built from: [`Filter`] (a condition), [`Order`]
//! (a sort key) and [`Assignment`] (a bulk update's `column = value`).
//! Each is tied to its model by a type parameter, so a term of one model
//! cannot be used in another model's query.

use std::marker::PhantomData;

use sea_query::{Order as SeaOrder, SimpleExpr};

use super::cond::Cond;

/// A boolean condition on model `M`, built from columns.
#[derive(Debug)]
pub struct Filter<M> {
    pub(crate) cond: Cond,
    _marker: PhantomData<fn() -> M>,
}

/// `column = value` for a bulk [`Query::update`](crate::Query::update),
/// built with [`Column::set`](crate::Column::set).
#[derive(Debug)]
pub struct Assignment<M> {
    pub(crate) column: &'static str,
    pub(crate) value: SimpleExpr,
    _marker: PhantomData<fn() -> M>,
}

/// A sort key on model `M`.
#[derive(Debug)]
pub struct Order<M> {
    pub(crate) column: &'static str,
    pub(crate) descending: bool,
    _marker: PhantomData<fn() -> M>,
}

impl<M> Clone for Filter<M> {
    fn clone(&self) -> Self {
        Filter {
            cond: self.cond.clone(),
            _marker: PhantomData,
        }
    }
}

impl<M> Clone for Order<M> {
    fn clone(&self) -> Self {
        Order {
            column: self.column,
            descending: self.descending,
            _marker: PhantomData,
        }
    }
}

impl<M> Clone for Assignment<M> {
    fn clone(&self) -> Self {
        Assignment {
            column: self.column,
            value: self.value.clone(),
            _marker: PhantomData,
        }
    }
}

impl<M> Order<M> {
    pub(crate) fn sea(&self) -> SeaOrder {
        if self.descending {
            SeaOrder::Desc
        } else {
            SeaOrder::Asc
        }
    }
}

impl<M> Filter<M> {
    pub(super) fn new(cond: Cond) -> Self {
        Filter {
            cond,
            _marker: PhantomData,
        }
    }

    /// Both conditions.
    #[must_use]
    pub fn and(self, other: Filter<M>) -> Filter<M> {
        Filter::new(Cond::And(Box::new(self.cond), Box::new(other.cond)))
    }

    /// Either condition.
    #[must_use]
    pub fn or(self, other: Filter<M>) -> Filter<M> {
        Filter::new(Cond::Or(Box::new(self.cond), Box::new(other.cond)))
    }

    /// The negation.
    #[allow(clippy::should_implement_trait)]
    #[must_use]
    pub fn not(self) -> Filter<M> {
        Filter::new(Cond::Not(Box::new(self.cond)))
    }
}

impl<M> Order<M> {
    pub(super) fn new(column: &'static str, descending: bool) -> Self {
        Order {
            column,
            descending,
            _marker: PhantomData,
        }
    }
}

impl<M> Assignment<M> {
    pub(super) fn new(column: &'static str, value: SimpleExpr) -> Self {
        Assignment {
            column,
            value,
            _marker: PhantomData,
        }
    }
}
