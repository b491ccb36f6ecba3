//! The **scope** stage for model statements: which tenant a statement of a
//! tenant model is confined to, bound as its last parameter (the derive
//! numbers the tenant's placeholder last in every statement), and whether
//! the pipeline must set `app.tenant_id` around it (row-level security).

use tokio_postgres::types::ToSql;

use super::Model;
use crate::error::{Error, Result};
use crate::executor::Executor;

/// A statement's tenant, as the model layer binds it.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'e> {
    /// The tenant parameter, for a tenant model on a scoped handle.
    pub(crate) tenant: Option<&'e (dyn ToSql + Sync)>,
    /// The tenant's text, for cache keys.
    pub(crate) text: Option<&'e str>,
    /// The model has row-level security: the pipeline sets the tenant.
    pub(crate) rls: bool,
    /// The model is audited: the pipeline sets the actor around a write.
    pub(crate) audited: bool,
    /// The model's name, for the metrics.
    pub(crate) model: &'static str,
}

impl<'e> Scope<'e> {
    /// `M`'s scope on `e`. A tenant model reaches an unscoped handle only
    /// through a hand-written `RunsOn` impl (the derive never emits one):
    /// refused rather than run unfiltered.
    #[inline]
    pub(crate) fn of<M: Model, E: Executor + ?Sized>(e: &'e E) -> Result<Scope<'e>> {
        let audited = M::META.audit.is_some();
        let Some(meta) = &M::META.tenant else {
            return Ok(Scope {
                tenant: None,
                text: None,
                rls: false,
                audited,
                model: M::META.name,
            });
        };
        match e.__tenant() {
            Some(t) => Ok(Scope {
                tenant: Some(t.param()),
                text: Some(t.text()),
                rls: meta.rls,
                audited,
                model: M::META.name,
            }),
            None => Err(Error::InvalidInput {
                reason: format!(
                    "{} is a tenant model: run it on `db.tenant(id)`, not on an unscoped handle",
                    M::META.name
                ),
            }),
        }
    }

    /// `M`'s scope on `e`, with the row-level security check of an RLS
    /// model (once per `Db`) done.
    pub(crate) async fn checked<M: Model, E: Executor + ?Sized>(e: &'e E) -> Result<Scope<'e>> {
        let scope = Scope::of::<M, E>(e)?;
        if scope.rls {
            super::tenancy::rls::ensure::<M, E>(e).await?;
        }
        Ok(scope)
    }

    /// What the pipeline sets around this scope's statements.
    pub(crate) fn around(&self) -> crate::pipeline::Around {
        crate::pipeline::Around {
            rls: self.rls,
            audited: match self.audited {
                true => crate::pipeline::Audited::Wrap,
                false => crate::pipeline::Audited::No,
            },
            model: self.model,
        }
    }

    /// `params` with the tenant after them.
    pub(crate) fn push<'p>(
        &self,
        mut params: Vec<&'p (dyn ToSql + Sync)>,
    ) -> Vec<&'p (dyn ToSql + Sync)>
    where
        'e: 'p,
    {
        params.extend(self.tenant);
        params
    }

    /// The cache's id of the row with `key`: the tenant's text and the key
    /// for a tenant model, since keys need only be unique per tenant.
    pub(crate) fn row_id<K: std::fmt::Debug + ?Sized>(&self, key: &K) -> String {
        match self.text {
            Some(t) => format!("{t}/{key:?}"),
            None => crate::cache::row_id(key),
        }
    }
}
