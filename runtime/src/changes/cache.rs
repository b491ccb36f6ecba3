//! The cache channel without Redis: with `Config::cache_feed(true)`, each
//! `Db` applies its change feed to its own L1. A row event drops that row
//! and the model's lists, a table event every row of the model, and a lost
//! connection all of L1 (again once it is back, with the `Gap`).
//!
//! The cache names rows by their key's `Debug` form; a notification carries
//! keys as JSON. For the key types a table key usually has (`i16`, `i32`,
//! `i64`, `String`, `uuid::Uuid`) the JSON becomes that exact value; any
//! other key type drops the model's rows instead of one row.

use std::any::{Any, TypeId};

use crate::cache::row_id;
use crate::model::Model;
use crate::pool::Db;

/// Whether L1 may hold `M`'s rows: always without the cache channel;
/// with it, only while `M`'s notifications are being applied to L1. The
/// first call for a model starts listening and answers false, so that read
/// (and any while the listener is down) goes to PostgreSQL uncached.
pub(crate) fn cache_ready<M: Model>(db: &Db) -> bool {
    !db.inner.config.cache_feed
        || db.inner.hub.cache_ready(
            M::META.qualified,
            if M::META.tenant.is_some() {
                no_row_id
            } else {
                row_id_of::<M::Key>
            },
        )
}

/// A tenant model's rows cannot be named from a key alone.
fn no_row_id(_: &serde_json::Value) -> Option<String> {
    None
}

/// `row_id` of the key `v` holds, when `K` is a type this can build.
fn row_id_of<K: std::fmt::Debug + 'static>(v: &serde_json::Value) -> Option<String> {
    let t = TypeId::of::<K>();
    let int = || v.as_i64();
    let value: Box<dyn Any> = if t == TypeId::of::<i64>() {
        Box::new(int()?)
    } else if t == TypeId::of::<i32>() {
        Box::new(i32::try_from(int()?).ok()?)
    } else if t == TypeId::of::<i16>() {
        Box::new(i16::try_from(int()?).ok()?)
    } else if t == TypeId::of::<String>() {
        Box::new(v.as_str()?.to_owned())
    } else {
        return uuid_of(t, v);
    };
    value.downcast::<K>().ok().map(|k| row_id(&*k))
}

/// A `uuid::Uuid` key from its JSON text.
#[cfg(feature = "uuid")]
fn uuid_of(t: TypeId, v: &serde_json::Value) -> Option<String> {
    if t != TypeId::of::<uuid::Uuid>() {
        return None;
    }
    Some(row_id(&v.as_str()?.parse::<uuid::Uuid>().ok()?))
}

#[cfg(not(feature = "uuid"))]
fn uuid_of(_: TypeId, _: &serde_json::Value) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_keys_become_the_cache_row_ids_of_their_types() {
        assert_eq!(row_id_of::<i64>(&json!(42)), Some(row_id(&42i64)));
        assert_eq!(row_id_of::<i16>(&json!(7)), Some(row_id(&7i16)));
        let s = "a \"quoted\" \u{7f} key".to_owned();
        assert_eq!(row_id_of::<String>(&json!(s)), Some(row_id(&s)));
        #[cfg(feature = "uuid")]
        {
            let u = uuid::Uuid::new_v4();
            assert_eq!(
                row_id_of::<uuid::Uuid>(&json!(u.to_string())),
                Some(row_id(&u))
            );
        }
        assert_eq!(row_id_of::<i32>(&json!("x")), None);
        assert_eq!(row_id_of::<(i32, i32)>(&json!(1)), None);
    }
}
