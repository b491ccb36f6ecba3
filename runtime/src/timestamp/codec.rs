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

fn is_timestamp(ty: &Type) -> bool {
    *ty == Type::TIMESTAMPTZ || *ty == Type::TIMESTAMP
}

impl ToSql for Timestamp {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let pg = self
            .0
            .checked_sub(PG_EPOCH)
            .ok_or("timestamp out of PostgreSQL's range")?;
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
            pg => Ok(Timestamp(pg + PG_EPOCH)),
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
