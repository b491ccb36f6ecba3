//! SQL built once per statement *shape* and reused.
//!
//! A query-builder statement's text depends only on its shape (which
//! columns, which operators, how many values in an `IN` list, which clauses
//! are present), never on the values, which are always bound. Rendering it
//! with sea-query on every call cost about half of a list page's client CPU,
//! so the runtime renders each shape once and keys it by a 128-bit
//! fingerprint of that shape. Model `patch` statements are keyed the same
//! way by the set of fields present.
//!
//! Why a fingerprint and not the shape itself: computing it allocates
//! nothing, and the inputs are program-defined (column handles and
//! operators), so two shapes colliding in 128 bits is not a practical risk.
//! The cache holds at most [`MAX_SHAPES`] entries for the whole process;
//! past that, new shapes are rendered per call, as before, so data-driven
//! shapes (an `IN` list whose length comes from a request) cannot grow it
//! without bound.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{LazyLock, RwLock};

/// Entries the process-wide shape cache holds at most.
pub(crate) const MAX_SHAPES: usize = 4096;

/// A 128-bit fingerprint of a statement's shape, built word by word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fingerprint {
    a: u64,
    b: u64,
}

impl Fingerprint {
    /// A fingerprint that starts from `domain`, so shapes of different
    /// statement kinds never share a key.
    pub(crate) fn new(domain: u64) -> Self {
        let mut f = Fingerprint {
            a: 0x243f_6a88_85a3_08d3,
            b: 0x1319_8a2e_0370_7344,
        };
        f.word(domain);
        f
    }

    /// Mixes in one word.
    pub(crate) fn word(&mut self, w: u64) {
        // Two independent multiply-rotate mixes (FxHash's and a 64-bit
        // golden-ratio variant with a xor-shift): cheap, and jointly 128 bits.
        self.a = (self.a.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
        self.b = (self.b ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.b ^= self.b >> 29;
    }

    /// Mixes in a `'static` name by address and length: the same name
    /// always has the same address in one process, and an address shared by
    /// two names (one a prefix of the other) differs in length.
    pub(crate) fn name(&mut self, name: &'static str) {
        self.word(name.as_ptr() as u64);
        self.word(name.len() as u64);
    }

    /// The finished key.
    pub(crate) fn key(self) -> u128 {
        (u128::from(self.a) << 64) | u128::from(self.b)
    }
}

/// Lets `Hash` types (a model's `TypeId`) feed a fingerprint.
impl Hasher for Fingerprint {
    fn finish(&self) -> u64 {
        self.a ^ self.b
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.word(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, w: u64) {
        self.word(w);
    }
}

/// The keys are already hashes: use their low bits as they are.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }
    fn write_u128(&mut self, key: u128) {
        // The low half of a key that is already a hash.
        self.0 = (key & u128::from(u64::MAX)).try_into().unwrap_or_default();
    }
}

type ByKey<V> = HashMap<u128, V, BuildHasherDefault<KeyHasher>>;

#[derive(Default)]
struct Shapes {
    sql: ByKey<&'static str>,
    /// Entries per owner, for [`put_capped`].
    owned: ByKey<usize>,
}

static SHAPES: LazyLock<RwLock<Shapes>> = LazyLock::new(RwLock::default);

/// The SQL cached for `key`, if any.
pub(crate) fn get(key: u128) -> Option<&'static str> {
    let shapes = SHAPES
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    shapes.sql.get(&key).copied()
}

/// Caches `sql` for `key` unless the cache is full, and returns it. The text
/// lives for the rest of the process, like the derive's own statements; the
/// cache is bounded, so so is what it holds.
pub(crate) fn put(key: u128, sql: String) -> Option<&'static str> {
    insert(key, sql, None)
}

/// [`put`], also refused once `owner` (a model's patches, say) has `cap`
/// entries, so one owner's shapes cannot crowd out everyone else's.
pub(crate) fn put_capped(key: u128, sql: String, owner: u128, cap: usize) -> Option<&'static str> {
    insert(key, sql, Some((owner, cap)))
}

/// Whether [`put_capped`] for `owner` with `cap` could still succeed: the
/// cache has room and `owner` has fewer than `cap` entries. Lets a caller
/// skip rendering a shape the cache would refuse.
pub(crate) fn has_room(owner: u128, cap: usize) -> bool {
    let shapes = SHAPES
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    shapes.sql.len() < MAX_SHAPES && shapes.owned.get(&owner).copied().unwrap_or(0) < cap
}

fn insert(key: u128, sql: String, owner: Option<(u128, usize)>) -> Option<&'static str> {
    let mut shapes = SHAPES
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(sql) = shapes.sql.get(&key) {
        return Some(sql);
    }
    if shapes.sql.len() >= MAX_SHAPES {
        return None;
    }
    if let Some((owner, cap)) = owner {
        let owned = shapes.owned.entry(owner).or_default();
        if *owned >= cap {
            return None;
        }
        *owned += 1;
    }
    let sql: &'static str = Box::leak(sql.into_boxed_str());
    shapes.sql.insert(key, sql);
    Some(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ_by_address_and_length() {
        static BOTH: &str = "ages";
        let mut short = Fingerprint::new(1);
        short.name(&BOTH[..3]);
        let mut long = Fingerprint::new(1);
        long.name(BOTH);
        assert_ne!(short.key(), long.key());
    }

    #[test]
    fn domains_and_order_matter() {
        let words = |domain, ws: &[u64]| {
            let mut f = Fingerprint::new(domain);
            ws.iter().for_each(|w| f.word(*w));
            f.key()
        };
        assert_ne!(words(1, &[1, 2]), words(2, &[1, 2]));
        assert_ne!(words(1, &[1, 2]), words(1, &[2, 1]));
        assert_eq!(words(3, &[7, 8]), words(3, &[7, 8]));
    }

    #[test]
    fn an_owner_is_capped() {
        let owner = Fingerprint::new(0xcafe).key();
        let key = |i| {
            let mut f = Fingerprint::new(0xcafe);
            f.word(i);
            f.key()
        };
        assert!(put_capped(key(1), "A".into(), owner, 2).is_some());
        assert!(put_capped(key(2), "B".into(), owner, 2).is_some());
        assert_eq!(put_capped(key(3), "C".into(), owner, 2), None);
        assert_eq!(put_capped(key(1), "A".into(), owner, 2), Some("A"));
        assert_eq!(get(key(3)), None);
    }

    #[test]
    fn put_then_get() {
        let key = Fingerprint::new(0xfeed).key();
        assert_eq!(get(key), None);
        assert_eq!(put(key, "SELECT 1".into()), Some("SELECT 1"));
        assert_eq!(get(key), Some("SELECT 1"));
    }
}
