//! Keyset cursors: where a keyset batch ended, and which query it fits.
//!
//! A [`Cursor`] is where a keyset batch ended: the values of the query's
//! ordering columns (primary key last) in its last row, plus a fingerprint
//! of the query's *shape* (model and ordering) so it cannot be applied to a
//! query it does not belong to. Its token form, for an HTTP `?after=`
//! parameter, is in `token`.

mod token;

use sea_query::Value;
use sha2::{Digest, Sha256};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::ModelMeta;
use super::column::Bound;
use crate::error::{Error, Result};

/// Where a keyset batch ended: the ordering columns' values of its last
/// row, the primary key last as a tie-breaker.
///
/// Pass it to [`Query::after`](super::Query::after) for the next batch, in
/// process, or carry it across requests as a token
/// ([`Cursor::to_token`], [`Cursor::from_token`]; `Display` and `FromStr`
/// are the same). A cursor only fits a query on the same model with the
/// same ordering (columns and directions); fetching any other query after
/// it is `Error::InvalidInput`. Filters are not part of that check: they
/// still apply in full to every batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// [`shape`] of the query the cursor came from.
    pub(crate) shape: u64,
    /// One per keyset key, in key order.
    pub(crate) values: Vec<Bound>,
}

/// A stable fingerprint of a keyset query's shape: the model's table and
/// the keyset keys (ordering columns and directions, primary key last).
/// Unlike the shape cache's keys it is the same in every process and
/// build, since tokens outlive both.
pub(crate) fn shape(meta: &ModelMeta, keys: &[(&'static str, bool)]) -> u64 {
    let mut h = Sha256::new();
    h.update(b"strata keyset shape v1\0");
    h.update(meta.qualified.as_bytes());
    for (col, desc) in keys {
        h.update([0, u8::from(*desc)]);
        h.update(col.as_bytes());
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// `(tag, is NULL)` of each value a cursor can hold (the types
/// [`value_of`] reads); the tag is also the value's type in a token.
fn tag_of(value: &Value) -> Option<(u8, bool)> {
    let (tag, null) = match value {
        Value::Bool(v) => (1, v.is_none()),
        Value::SmallInt(v) => (2, v.is_none()),
        Value::Int(v) => (3, v.is_none()),
        Value::BigInt(v) => (4, v.is_none()),
        Value::Float(v) => (5, v.is_none()),
        Value::Double(v) => (6, v.is_none()),
        #[cfg(feature = "decimal")]
        Value::Decimal(v) => (7, v.is_none()),
        #[cfg(feature = "uuid")]
        Value::Uuid(v) => (8, v.is_none()),
        #[cfg(feature = "chrono")]
        Value::ChronoDate(v) => (9, v.is_none()),
        #[cfg(feature = "chrono")]
        Value::ChronoDateTime(v) => (10, v.is_none()),
        #[cfg(feature = "chrono")]
        Value::ChronoDateTimeUtc(v) => (11, v.is_none()),
        Value::String(v) => (12, v.is_none()),
        _ => return None,
    };
    Some((tag, null))
}

/// The PostgreSQL type a cursor value binds as, to check it against the
/// column it is compared with.
pub(crate) fn pg_type(value: &Value) -> Option<Type> {
    Some(match tag_of(value)?.0 {
        1 => Type::BOOL,
        2 => Type::INT2,
        3 => Type::INT4,
        4 => Type::INT8,
        5 => Type::FLOAT4,
        6 => Type::FLOAT8,
        7 => Type::NUMERIC,
        8 => Type::UUID,
        9 => Type::DATE,
        10 => Type::TIMESTAMP,
        11 => Type::TIMESTAMPTZ,
        _ => Type::TEXT,
    })
}

/// Whether `value` is a NULL of any type.
pub(crate) fn is_null(value: &Value) -> bool {
    tag_of(value).is_some_and(|(_, null)| null)
}

/// Why a date/time column has no cursor: the feature that reads it.
fn feature_hint(ty: &Type) -> &'static str {
    let time = [Type::DATE, Type::TIMESTAMP, Type::TIMESTAMPTZ];
    if cfg!(not(feature = "chrono")) && time.contains(ty) {
        " without the `chrono` feature"
    } else {
        ""
    }
}

/// Reads column `name` of `row` back into a bindable value, for cursors.
pub(crate) fn value_of(row: &Row, name: &str) -> Result<Value> {
    let idx = row
        .columns()
        .iter()
        .position(|c| c.name() == name)
        .ok_or_else(|| Error::Decode {
            column: name.to_owned(),
            source: "ordering column not selected".into(),
        })?;
    let ty = row.columns()[idx].type_().clone();
    let decode = |e: tokio_postgres::Error| Error::Decode {
        column: name.to_owned(),
        source: Box::new(e),
    };
    let value = match ty {
        Type::BOOL => row.try_get::<_, Option<bool>>(idx).map(Value::from),
        Type::INT2 => row.try_get::<_, Option<i16>>(idx).map(Value::from),
        Type::INT4 => row.try_get::<_, Option<i32>>(idx).map(Value::from),
        Type::INT8 => row.try_get::<_, Option<i64>>(idx).map(Value::from),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(idx).map(Value::from),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(idx).map(Value::from),
        #[cfg(feature = "decimal")]
        Type::NUMERIC => row
            .try_get::<_, Option<rust_decimal::Decimal>>(idx)
            .map(Value::from),
        #[cfg(feature = "uuid")]
        Type::UUID => row.try_get::<_, Option<uuid::Uuid>>(idx).map(Value::from),
        #[cfg(feature = "chrono")]
        Type::DATE => row
            .try_get::<_, Option<chrono::NaiveDate>>(idx)
            .map(Value::from),
        #[cfg(feature = "chrono")]
        Type::TIMESTAMP => row
            .try_get::<_, Option<chrono::NaiveDateTime>>(idx)
            .map(Value::from),
        #[cfg(feature = "chrono")]
        Type::TIMESTAMPTZ => row
            .try_get::<_, Option<chrono::DateTime<chrono::Utc>>>(idx)
            .map(Value::from),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            row.try_get::<_, Option<String>>(idx).map(Value::from)
        }
        other => {
            return Err(Error::Decode {
                column: name.to_owned(),
                source: format!(
                    "keyset pagination cannot order by a {other} column{}",
                    feature_hint(&other)
                )
                .into(),
            });
        }
    };
    value.map_err(decode)
}
