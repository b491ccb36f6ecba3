//! The halves of tenancy that need [`Model`](super::Model): the RLS policy
//! and its checks ([`rls`]), and Citus readiness ([`citus`]).
//!
//! Why here and not in `tenant/`: the tenant-scoped handles are handles
//! (they implement `Executor`), so `tenant/` sits in the handle group, below
//! the models; what reads a model's metadata sits with the models. The
//! public paths stay `strata::tenant::*` (re-exports).

pub(crate) mod citus;
pub(crate) mod rls;
