//! Includes below the first level (`Deal::SCENARIOS.include(Scenario::TASKS)`)
//! and several relations at one level (`(Deal::CUSTOMER, Deal::SCENARIOS)`).
//! A nested level runs on the rows the level above loaded, so a chain of
//! depth `d` runs `d` statements after the parents' own.

use super::{BelongsTo, HasMany, LoadOn, Loading, Relation, RelationKey, sealed};
use crate::executor::Executor;
use crate::model::Model;
use crate::tenant::{ListsOn, RunsOn};

/// A relation together with what to include for each row it loads, from
/// [`BelongsTo::include`] or [`HasMany::include`].
#[derive(Debug, Clone, Copy)]
pub struct Nested<R, N> {
    outer: R,
    inner: N,
}

impl<R, N> Nested<R, N> {
    pub(super) fn new(outer: R, inner: N) -> Self {
        Nested { outer, inner }
    }
}

/// `rows` paired with what `inner` loads for them.
async fn with_inner<T, N, E>(inner: &N, e: &E, rows: Vec<T>) -> crate::Result<Vec<(T, N::Loaded)>>
where
    T: Model,
    N: LoadOn<T, E::Scope>,
    E: Executor + ?Sized,
{
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let loaded = inner.__load(e, &rows).await?;
    Ok(rows.into_iter().zip(loaded).collect())
}

impl<S: Model, T: Model, N> sealed::Sealed for Nested<BelongsTo<S, T>, N> {}
impl<S: Model, T: Model, N> sealed::Sealed for Nested<HasMany<S, T>, N> {}

impl<S: Model, T: Model + Clone, N: Relation<T>> Relation<S> for Nested<BelongsTo<S, T>, N>
where
    N::Loaded: Clone,
{
    type Loaded = Option<(T, N::Loaded)>;
}

impl<S: Model, T: Model + Clone, N, Sc> LoadOn<S, Sc> for Nested<BelongsTo<S, T>, N>
where
    N: LoadOn<T, Sc>,
    N::Loaded: Clone,
    T: RunsOn<Sc>,
    T::Key: RelationKey,
{
    fn __load<'a, E>(&'a self, e: &'a E, parents: &'a [S]) -> Loading<'a, Vec<Self::Loaded>>
    where
        E: Executor<Scope = Sc> + ?Sized,
    {
        Box::pin(async move {
            let targets = self.outer.targets(e, parents).await?;
            let rows = with_inner(&self.inner, e, targets).await?;
            Ok(self.outer.pair(parents, rows, |(t, _)| t.key()))
        })
    }
}

impl<S: Model, T: Model, N: Relation<T>> Relation<S> for Nested<HasMany<S, T>, N> {
    type Loaded = Vec<(T, N::Loaded)>;
}

impl<S: Model, T: Model, N, Sc> LoadOn<S, Sc> for Nested<HasMany<S, T>, N>
where
    N: LoadOn<T, Sc>,
    T: ListsOn<Sc>,
    S::Key: RelationKey,
{
    fn __load<'a, E>(&'a self, e: &'a E, parents: &'a [S]) -> Loading<'a, Vec<Self::Loaded>>
    where
        E: Executor<Scope = Sc> + ?Sized,
    {
        Box::pin(async move {
            let children = self.outer.children(e, parents).await?;
            let rows = with_inner(&self.inner, e, children).await?;
            Ok(self
                .outer
                .group(parents, rows, |(c, _)| self.outer.fk_of(c)))
        })
    }
}

/// Several relations at one level: `(A, B)` pairs each parent with
/// `(A::Loaded, B::Loaded)`. Each runs its own statements, one after the
/// other on the same handle.
macro_rules! tuple_relation {
    ($($r:ident $i:tt $v:ident),+; $zipped:pat) => {
        impl<$($r),+> sealed::Sealed for ($($r,)+) {}

        impl<S, $($r: Relation<S>),+> Relation<S> for ($($r,)+) {
            type Loaded = ($($r::Loaded,)+);
        }

        impl<S: Sync, Sc, $($r: LoadOn<S, Sc>),+> LoadOn<S, Sc> for ($($r,)+) {
            fn __load<'a, E>(
                &'a self,
                e: &'a E,
                parents: &'a [S],
            ) -> Loading<'a, Vec<Self::Loaded>>
            where
                E: Executor<Scope = Sc> + ?Sized,
            {
                Box::pin(async move {
                    $(let $v = self.$i.__load(e, parents).await?;)+
                    Ok(tuple_relation!(@zip $($v),+).map(|$zipped| ($($v,)+)).collect())
                })
            }
        }
    };
    (@zip $first:ident $(, $rest:ident)*) => {
        $first.into_iter()$(.zip($rest))*
    };
}

tuple_relation!(A 0 a, B 1 b; (a, b));
tuple_relation!(A 0 a, B 1 b, C 2 c; ((a, b), c));
tuple_relation!(A 0 a, B 1 b, C 2 c, D 3 d; (((a, b), c), d));
