//! The two type rules of a relation's key: what a key field may be
//! ([`HoldsKey`]) and which key types a relation can load by
//! ([`RelationKey`]). Both are checked by the derive at the user's field.

use std::hash::Hash;

use sea_query::Value;

/// A field type that holds a key of type `K`: `K` itself, or `Option<K>`
/// for an optional relation. The derive asserts it at the key field.
#[diagnostic::on_unimplemented(
    message = "the key field has type `{Self}`, which cannot hold the related key `{K}`",
    label = "must be `{K}` or `Option<{K}>`",
    note = "a relation's `key` field holds the other model's primary key: give it that type, or `Option<..>` of it when the relation is optional"
)]
pub trait HoldsKey<K> {
    /// The key, if the field holds one.
    fn key_ref(&self) -> Option<&K>;
}

impl<K> HoldsKey<K> for K {
    fn key_ref(&self) -> Option<&K> {
        Some(self)
    }
}

impl<K> HoldsKey<K> for Option<K> {
    fn key_ref(&self) -> Option<&K> {
        self.as_ref()
    }
}

/// A primary key type a relation can load by: compared in memory to pair
/// rows with their parents, and bound as one array parameter
/// (`= ANY($1)`). The integers, `String` and `uuid::Uuid`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot key a relation",
    label = "relations pair rows by this key",
    note = "a relation's primary key must be an integer (`i16`, `i32`, `i64`), `String` or `uuid::Uuid`"
)]
pub trait RelationKey: Hash + Eq + Clone + Send + Sync + 'static {
    /// The keys as one array value.
    #[doc(hidden)]
    fn __array(keys: Vec<Self>) -> Value;
}

macro_rules! relation_keys {
    ($($t:ty => $array:ident),* $(,)?) => {$(
        impl RelationKey for $t {
            fn __array(keys: Vec<Self>) -> Value {
                let values = keys.into_iter().map(Value::from).collect();
                Value::Array(sea_query::ArrayType::$array, Some(Box::new(values)))
            }
        }
    )*};
}

relation_keys!(
    i16 => SmallInt,
    i32 => Int,
    i64 => BigInt,
    String => String,
);
#[cfg(feature = "uuid")]
relation_keys!(uuid::Uuid => Uuid);

/// Where the derive asserts that `K` can key a relation.
#[doc(hidden)]
pub fn assert_relation_key<K: RelationKey>() {}

/// Where the derive reads a key field: `key_of::<FieldType, Key>(&row.f)`,
/// spanned at the field so a wrong type is reported there.
#[doc(hidden)]
#[inline]
pub fn key_of<F: HoldsKey<K>, K>(field: &F) -> Option<&K> {
    field.key_ref()
}
