//! [`Timestamp`] in PostgreSQL's binary format, in serde, and (feature
//! `chrono`) as `chrono::DateTime<Utc>`.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use postgres_types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Timestamp;

/// Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH: i64 = 946_684_800_000_000;
/// PostgreSQL's first `timestamptz` (4714-11-24 00:00 BC), in its own epoch.
const PG_MIN: i64 = -211_813_488_000_000_000;
/// Just past PostgreSQL's last `timestamptz` (294277-01-01), in its epoch.
const PG_END: i64 = 9_223_371_331_200_000_000;

fn is_timestamp(ty: &Type) -> bool {
    *ty == Type::TIMESTAMPTZ || *ty == Type::TIMESTAMP
}

impl ToSql for Timestamp {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        // PostgreSQL's range: 4714-11-24 BC to 294276 AD (i64::MIN is its
        // `-infinity`, so it must never be sent for a finite time).
        let pg = self
            .0
            .checked_sub(PG_EPOCH)
            .filter(|pg| (PG_MIN..PG_END).contains(pg))
            .ok_or("timestamp out of PostgreSQL's range (4714 BC to 294276 AD)")?;
        out.put_i64(pg);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        is_timestamp(ty)
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Timestamp {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Timestamp, Box<dyn StdError + Sync + Send>> {
        let bytes: [u8; 8] = raw.try_into().map_err(|_| "a timestamp is 8 bytes")?;
        match i64::from_be_bytes(bytes) {
            i64::MAX => Err("the timestamp is 'infinity', which a Timestamp cannot hold".into()),
            i64::MIN => Err("the timestamp is '-infinity', which a Timestamp cannot hold".into()),
            pg => pg.checked_add(PG_EPOCH).map(Timestamp).ok_or_else(|| {
                "the timestamp is past what a Timestamp holds (about 294247 AD)".into()
            }),
        }
    }

    fn accepts(ty: &Type) -> bool {
        is_timestamp(ty)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 timestamp or microseconds since the Unix epoch")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Ok(Timestamp(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                i64::try_from(v)
                    .map(Timestamp)
                    .map_err(|_| E::custom("microseconds out of range"))
            }
        }
        if d.is_human_readable() {
            d.deserialize_str(V)
        } else {
            d.deserialize_i64(V)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ends_of_postgres_range_are_errors_not_wraps() {
        let last = (PG_END - 1).to_be_bytes();
        assert!(Timestamp::from_sql(&Type::TIMESTAMPTZ, &last).is_err());
        let mut out = BytesMut::new();
        let minus_infinity = Timestamp::from_unix_micros(i64::MIN + PG_EPOCH);
        assert!(minus_infinity.to_sql(&Type::TIMESTAMPTZ, &mut out).is_err());
        let first = Timestamp::from_unix_micros(PG_MIN + PG_EPOCH);
        assert!(first.to_sql(&Type::TIMESTAMPTZ, &mut out).is_ok());
        let back = Timestamp::from_sql(&Type::TIMESTAMPTZ, &out).unwrap();
        assert_eq!(back, first);
    }
}

#[cfg(feature = "chrono")]
mod chrono_conv {
    use chrono::{DateTime, Utc};

    use super::Timestamp;

    impl From<DateTime<Utc>> for Timestamp {
        /// Truncated to the microsecond.
        fn from(t: DateTime<Utc>) -> Timestamp {
            Timestamp(t.timestamp_micros())
        }
    }

    impl From<Timestamp> for DateTime<Utc> {
        /// Saturates at chrono's range (±262,000 years), which PostgreSQL's
        /// timestamps exceed only past year 262143.
        fn from(t: Timestamp) -> DateTime<Utc> {
            DateTime::from_timestamp_micros(t.0).unwrap_or(if t.0 < 0 {
                DateTime::<Utc>::MIN_UTC
            } else {
                DateTime::<Utc>::MAX_UTC
            })
        }
    }
}
