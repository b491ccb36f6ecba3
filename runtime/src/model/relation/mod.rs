//! Relations between models, loaded without N+1: the derive's
//! `#[model(belongs_to(Customer, key = customer_id))]` and
//! `#[model(has_many(Scenario, key = deal_id))]` become typed consts
//! (`Deal::CUSTOMER: BelongsTo<Deal, Customer>`, `Deal::SCENARIOS:
//! HasMany<Deal, Scenario>`), and `Deal::query().include(..)` loads them.
//!
//! Result shape: every parent comes back paired with what it includes, as a
//! tuple: `(Deal, Option<Customer>)`, `(Deal, Vec<Scenario>)`, nested as
//! `(Deal, Vec<(Scenario, Vec<Task>)>)` and side by side as
//! `(Deal, (Option<Customer>, Vec<Scenario>))`.
//! Tuples rather than generated `DealWithCustomer` structs: the shape
//! follows from the `include` expression alone, at any depth, with no
//! second derive and no optional fields that may or may not be loaded.
//!
//! Statements: one per relation and level, whatever the number of parents.
//! `belongs_to` collects the distinct keys and runs the target's
//! `find_many` (`= ANY($1)`, through the cache when the target is cached
//! and the handle is not a transaction); `has_many` runs
//! `Target::query()` with `"fk" = ANY($1)`, so soft delete and the tenant
//! scope apply as in any query of the target. Keys are bound as one array
//! parameter, never one parameter per key; an empty set of keys runs
//! nothing.
//!
//! Tenancy: every level runs on the handle the include was given, so each
//! level is scoped by its own model's rules: a tenant model is confined to
//! the handle's tenant, a model without a tenant is shared. A relation to a
//! tenant model therefore loads only on a tenant handle (a compile error
//! elsewhere, like the target's own reads), and a tenant model may point
//! at a shared one (a deal's customer catalogue) or the other way round.

mod belongs_to;
mod has_many;
mod including;
mod key;
mod nested;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

pub use belongs_to::BelongsTo;
pub use has_many::HasMany;
pub use including::Including;
pub use key::{HoldsKey, RelationKey, assert_relation_key, key_of};
pub use nested::Nested;

use super::Model;
use crate::error::Result;
use crate::executor::Executor;
use crate::pool::Db;

/// A boxed, sendable future: what one level of an include returns.
pub(crate) type Loading<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Something `include` accepts on a query of `S`: a relation declared on
/// `S` (`S::CUSTOMER`), a relation with its own include
/// (`S::SCENARIOS.include(Scenario::TASKS)`), or a tuple of those.
/// Implemented by strata only.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a relation of `{S}`",
    label = "not a relation of `{S}`",
    note = "`include` on a query of `{S}` takes a relation declared on `{S}` with `#[model(belongs_to(..))]` or `#[model(has_many(..))]` (e.g. `{S}::CUSTOMER`), such a relation's `.include(..)`, or a tuple of them"
)]
pub trait Relation<S>: Send + Sync + sealed::Sealed {
    /// What each parent is paired with: `Option<T>` for `belongs_to`,
    /// `Vec<T>` for `has_many`, nested and tupled as the relation is.
    type Loaded: Send;
}

/// A [`Relation`] whose every level can run on a handle of scope `Sc`:
/// each related model's reads must be allowed there (a tenant model needs a
/// tenant handle).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be loaded on a handle of scope `{Sc}`",
    label = "a model this include reaches needs another handle",
    note = "a relation to a tenant model loads only on a handle scoped to one tenant: `let db = db.tenant(id);`, then `.all(&db)`"
)]
pub trait LoadOn<S, Sc>: Relation<S> {
    /// One entry per parent, in the parents' order.
    #[doc(hidden)]
    fn __load<'a, E>(&'a self, e: &'a E, parents: &'a [S]) -> Loading<'a, Vec<Self::Loaded>>
    where
        E: Executor<Scope = Sc> + ?Sized;
}

mod sealed {
    pub trait Sealed {}
}

/// How a cached `belongs_to` target is read: `find_many_cached` on the
/// pool handle. Picked by the derive where the target's type is known
/// (see [`Pick`]).
pub type CachedLoad<T> = for<'a> fn(&'a Db, &'a [<T as Model>::Key]) -> Loading<'a, Vec<T>>;

/// How the children of a cached `has_many` target are read: the level's
/// query as a cached list (`query.cached().all(db)`), keyed by its SQL and
/// parameters (the parents' keys among them) and retired by any write of
/// the target. Picked like [`CachedLoad`].
pub type CachedList<T> = for<'a> fn(&'a Db, crate::model::Query<T>) -> Loading<'a, Vec<T>>;

/// Chooses, at the derive's call site, how a `belongs_to` target is read:
/// `(&&Pick::<T>::new()).cached_load()` is [`ViaCache`]'s answer when `T`
/// can be cached (`Serialize + DeserializeOwned + Clone`, no tenant), and
/// [`ViaQuery`]'s `None` otherwise (autoref specialization, resolved for a
/// concrete `T`; generic code cannot ask).
#[doc(hidden)]
pub struct Pick<T>(PhantomData<fn() -> T>);

impl<T> Pick<T> {
    /// The chooser for `T`.
    pub const fn new() -> Self {
        Pick(PhantomData)
    }
}

impl<T> Default for Pick<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for Pick<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pick")
    }
}

/// The cached answer of [`Pick`], implemented in `crate::cached` (the layer
/// that knows both the cache and the models).
#[doc(hidden)]
pub trait ViaCache<T: Model> {
    /// The cached loader.
    fn cached_load(&self) -> Option<CachedLoad<T>>;
    /// The cached list loader.
    fn cached_list(&self) -> Option<CachedList<T>>;
}

/// The fallback answer of [`Pick`]: no cache, read with `find_many`.
#[doc(hidden)]
pub trait ViaQuery<T: Model> {
    /// `None`.
    fn cached_load(&self) -> Option<CachedLoad<T>>;
    /// `None`.
    fn cached_list(&self) -> Option<CachedList<T>>;
}

impl<T: Model> ViaQuery<T> for Pick<T> {
    fn cached_load(&self) -> Option<CachedLoad<T>> {
        None
    }

    fn cached_list(&self) -> Option<CachedList<T>> {
        None
    }
}
