//! Hand-written L1 baseline: a `moka::sync::Cache<i64, RawUser>` filled
//! from the tokio-postgres baseline; a hit is a lookup and a clone.

use crate::harness::{BoxError, BoxFut, Contender, Op, OpResult, WARM_IDS, warm_id};
use crate::raw::{Raw, RawUser};

/// A moka cache keyed by id.
#[derive(Debug)]
pub(crate) struct MokaGet {
    cache: moka::sync::Cache<i64, RawUser>,
}

impl MokaGet {
    /// Fills the cache with the warmed ids, read through `raw`.
    pub(crate) async fn warm(raw: &Raw) -> Result<MokaGet, BoxError> {
        let cache = moka::sync::Cache::new(10_000);
        for id in 1..=i64::try_from(WARM_IDS)? {
            cache.insert(id, raw.get(id).await?);
        }
        Ok(MokaGet { cache })
    }
}

impl Contender for MokaGet {
    fn name(&self) -> &str {
        "moka get"
    }

    fn supports(&self, op: Op) -> bool {
        op == Op::CachedL1
    }

    fn run(&self, op: Op, arg: u64) -> BoxFut<'_, OpResult> {
        Box::pin(async move {
            if op != Op::CachedL1 {
                return Err("only CachedL1".into());
            }
            let user = self.cache.get(&warm_id(arg)).ok_or("not cached")?;
            drop(user);
            Ok(())
        })
    }
}
