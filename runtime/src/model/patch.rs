//! The `patch` statement for one set of present fields, assembled from the
//! derive's [`PatchTemplate`] and cached per model and shape.
//!
//! Binding only the present values (2 parameters for a one-field patch,
//! instead of a flag and a value per column) is what brings a derived
//! `patch` to the cost of a hand-written `UPDATE`. The cap per model keeps
//! data-driven shapes from preparing a statement per combination of fields;
//! past it, and for an empty patch, the fixed `sql.patch` runs instead.

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
