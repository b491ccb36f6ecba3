//! The `patch` statement for one set of present fields, assembled from the
//! derive's [`PatchTemplate`] and cached per model and shape.
//!
//! Binding only the present values (2 parameters for a one-field patch,
//! instead of a flag and a value per column) is what brings a derived
//! `patch` to the cost of a hand-written `UPDATE`. The cap per model keeps
//! data-driven shapes from preparing a statement per combination of fields;
//! past it the fixed `sql.patch` runs instead. An empty patch writes
//! nothing: it reads the row under the same conditions ([`empty`]).

use crate::__private::ColumnType;
use std::hash::Hash;

use super::shape::{self, Fingerprint};
use super::{Model, ParamList, PatchModel, PatchTemplate};

/// Shapes cached per model; patches of other shapes use `sql.patch`.
pub(crate) const SHAPES_PER_MODEL: usize = 64;

/// The statement that applies `patch` to the row with `key`, and its
/// parameters (the key first; a tenant model's caller pushes the tenant
/// last).
pub(crate) fn statement<'a, M: Model>(
    key: &'a M::Key,
    patch: &'a M::Patch,
) -> (&'static str, ParamList<'a>) {
    let fields = M::META.sql.patch_shape.sets.len();
    let field_bits = if fields >= 64 {
        u64::MAX
    } else {
        (1u64 << fields) - 1
    };
    if let Some(bits) = patch.shape()
        && bits & field_bits != 0
        && let Some(sql) = cached::<M>(bits)
    {
        let mut params = patch.present_params();
        params.insert(0, key.param());
        return (sql, params);
    }
    let mut params = patch.patch_params();
    params.insert(0, key.param());
    (M::META.sql.patch, params)
}

/// For a patch with no field present: the `SELECT` of the row it names,
/// under the conditions the `UPDATE` would have had (key, expected
/// version, tenant, not soft-deleted), and its parameters. An empty patch
/// writes nothing: no version bump, no `updated_at`, no audit record, no
/// invalidation, so a client's no-op `PATCH {}` cannot make every other
/// client's version stale. `None` when a field is present (or the model
/// has more than 64 patchable fields, whose patches take the fixed path).
pub(crate) fn empty<'a, M: Model>(
    key: &'a M::Key,
    patch: &'a M::Patch,
) -> Option<(&'static str, ParamList<'a>)> {
    let fields = M::META.sql.patch_shape.sets.len();
    let bits = patch.shape()?;
    if fields >= 64 || bits & ((1u64 << fields) - 1) != 0 {
        return None;
    }
    let with_version = bits & (1u64 << fields) != 0;
    let mut owner = Fingerprint::new(0x5e1ec7);
    std::any::TypeId::of::<M>().hash(&mut owner);
    let mut f = owner;
    f.word(u64::from(with_version));
    let key_of_sql = f.key();
    let sql = shape::get(key_of_sql).or_else(|| {
        shape::put_capped(
            key_of_sql,
            select(&M::META.sql.patch_shape, with_version),
            owner.key(),
            SHAPES_PER_MODEL,
        )
    })?;
    let mut params = patch.present_params();
    params.insert(0, key.param());
    Some((sql, params))
}

/// `SELECT <cols> FROM <t> WHERE <pk> = $1 [AND <version> = $2] [AND
/// <tenant> = $n] [AND <deleted_at> IS NULL]`, from the patch template's
/// pieces (numbered as [`assemble`] numbers them).
fn select(t: &PatchTemplate, with_version: bool) -> String {
    use std::fmt::Write as _;
    let table = t
        .head
        .strip_prefix("UPDATE ")
        .and_then(|h| h.strip_suffix(" SET "))
        .unwrap_or(t.head);
    let (live, columns) = t.tail.split_once(" RETURNING ").unwrap_or(("", t.tail));
    let mut sql = format!("SELECT {columns} FROM {table}{}", t.key);
    let mut n = 1;
    if with_version && !t.version.is_empty() {
        n += 1;
        let _ = write!(sql, "{}{n}", t.version);
    }
    if !t.tenant.is_empty() {
        n += 1;
        let _ = write!(sql, "{}{n}", t.tenant);
    }
    sql.push_str(live);
    sql
}

/// The SQL for shape `bits` of model `M`, assembled on first use.
fn cached<M: Model>(bits: u64) -> Option<&'static str> {
    let mut owner = Fingerprint::new(0x9a7c4);
    std::any::TypeId::of::<M>().hash(&mut owner);
    let mut f = owner;
    f.word(bits);
    let key = f.key();
    shape::get(key).or_else(|| {
        shape::put_capped(
            key,
            assemble(&M::META.sql.patch_shape, bits),
            owner.key(),
            SHAPES_PER_MODEL,
        )
    })
}

/// The statement text for shape `bits` (see [`PatchTemplate`]).
fn assemble(t: &PatchTemplate, bits: u64) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(256);
    sql.push_str(t.head);
    let mut n = 1;
    for (i, set) in t.sets.iter().enumerate() {
        if bits & (1 << i) != 0 {
            n += 1;
            if n > 2 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "{set}{n}");
        }
    }
    sql.push_str(t.stamps);
    sql.push_str(t.key);
    let version_bit = t.sets.len();
    if !t.version.is_empty() && version_bit < 64 && bits & (1 << version_bit) != 0 {
        n += 1;
        let _ = write!(sql, "{}{n}", t.version);
    }
    if !t.tenant.is_empty() {
        n += 1;
        let _ = write!(sql, "{}{n}", t.tenant);
    }
    sql.push_str(t.tail);
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: PatchTemplate = PatchTemplate {
        head: "UPDATE \"t\" SET ",
        sets: &["\"a\" = $", "\"b\" = $", "\"c\" = $"],
        stamps: ", \"v\" = \"v\" + 1",
        key: " WHERE \"id\" = $1",
        version: " AND \"v\" = $",
        tenant: "",
        tail: " RETURNING \"id\"",
    };

    #[test]
    fn an_empty_patch_reads_under_the_same_conditions() {
        let t = PatchTemplate {
            tenant: " AND \"org\" = $",
            tail: " AND \"deleted_at\" IS NULL RETURNING \"id\", \"v\"",
            ..T
        };
        assert_eq!(
            select(&t, true),
            "SELECT \"id\", \"v\" FROM \"t\" WHERE \"id\" = $1 AND \"v\" = $2 AND \"org\" = $3 AND \"deleted_at\" IS NULL"
        );
        assert_eq!(
            select(&T, false),
            "SELECT \"id\" FROM \"t\" WHERE \"id\" = $1"
        );
    }

    #[test]
    fn numbers_present_fields_then_the_version() {
        assert_eq!(
            assemble(&T, 0b0101),
            "UPDATE \"t\" SET \"a\" = $2, \"c\" = $3, \"v\" = \"v\" + 1 WHERE \"id\" = $1 RETURNING \"id\""
        );
        assert_eq!(
            assemble(&T, 0b1010),
            "UPDATE \"t\" SET \"b\" = $2, \"v\" = \"v\" + 1 WHERE \"id\" = $1 AND \"v\" = $3 RETURNING \"id\""
        );
    }
}
