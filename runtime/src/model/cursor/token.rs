//! A cursor's token form: an opaque, URL-safe string.
//!
//! [`Cursor::to_token`] turns a cursor into a string for an HTTP `?after=`
//! parameter, and [`Cursor::from_token`] reads one back.
//!
//! Token layout (before base64url without padding):
//! `version (1) | shape (8) | count (1) | count × (tag (1) [payload]) | check (12)`,
//! where `check` is the first 12 bytes of SHA-256 over a domain string and
//! everything before it. Integers and floats are big-endian, timestamps are
//! microseconds since the Unix epoch, dates days since 0001-01-01, strings
//! a `u32` byte length then UTF-8; a tag with bit 7 set is a NULL and has no
//! payload.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_query::Value;
use sha2::{Digest, Sha256};

use super::{Cursor, tag_of};
use crate::error::{Error, Result};
use crate::model::column::bound;

/// Token format version; a token of another version is refused.
const VERSION: u8 = 1;
/// Bytes of the integrity check at the end of a token.
const CHECK: usize = 12;
/// Hashed in front of the token bytes for the check.
const DOMAIN: &[u8] = b"strata keyset cursor token v1\0";
/// The NULL flag on a tag.
const NULL: u8 = 0x80;

fn invalid(why: impl fmt::Display) -> Error {
    Error::InvalidInput {
        reason: format!("invalid cursor token: {why}"),
    }
}

fn check_of(bytes: &[u8]) -> [u8; CHECK] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(bytes);
    let digest = h.finalize();
    let mut check = [0u8; CHECK];
    check.copy_from_slice(&digest[..CHECK]);
    check
}

#[cfg(feature = "chrono")]
fn micros(t: chrono::NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn encode_value(value: &Value, out: &mut Vec<u8>) {
    let Some((tag, null)) = tag_of(value) else {
        // `value_of` only makes the types above.
        return;
    };
    if null {
        out.push(tag | NULL);
        return;
    }
    out.push(tag);
    match value {
        Value::Bool(Some(v)) => out.push(u8::from(*v)),
        Value::SmallInt(Some(v)) => out.extend(v.to_be_bytes()),
        Value::Int(Some(v)) => out.extend(v.to_be_bytes()),
        Value::BigInt(Some(v)) => out.extend(v.to_be_bytes()),
        Value::Float(Some(v)) => out.extend(v.to_bits().to_be_bytes()),
        Value::Double(Some(v)) => out.extend(v.to_bits().to_be_bytes()),
        #[cfg(feature = "decimal")]
        Value::Decimal(Some(v)) => out.extend(v.serialize()),
        #[cfg(feature = "uuid")]
        Value::Uuid(Some(v)) => out.extend(v.as_bytes()),
        #[cfg(feature = "chrono")]
        Value::ChronoDate(Some(v)) => {
            use chrono::Datelike;
            out.extend(v.num_days_from_ce().to_be_bytes());
        }
        #[cfg(feature = "chrono")]
        Value::ChronoDateTime(Some(v)) => out.extend(micros(*v).to_be_bytes()),
        #[cfg(feature = "chrono")]
        Value::ChronoDateTimeUtc(Some(v)) => out.extend(micros(v.naive_utc()).to_be_bytes()),
        Value::String(Some(v)) => {
            // A cursor value is one row's column: far below 4 GiB.
            let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
            out.extend(len.to_be_bytes());
            out.extend(v.as_bytes());
        }
        _ => {}
    }
}

/// Reads the token bytes after the header, one value at a time.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        if self.0.len() < N {
            return Err(invalid("truncated"));
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        let mut out = [0u8; N];
        out.copy_from_slice(head);
        Ok(out)
    }

    #[cfg(feature = "chrono")]
    fn timestamp(&mut self) -> Result<chrono::DateTime<chrono::Utc>> {
        let us = i64::from_be_bytes(self.take()?);
        chrono::DateTime::from_timestamp_micros(us).ok_or_else(|| invalid("timestamp out of range"))
    }

    fn value(&mut self) -> Result<Value> {
        let [tag] = self.take()?;
        let null = tag & NULL != 0;
        let value = match (tag & !NULL, null) {
            (1, true) => Value::Bool(None),
            (2, true) => Value::SmallInt(None),
            (3, true) => Value::Int(None),
            (4, true) => Value::BigInt(None),
            (5, true) => Value::Float(None),
            (6, true) => Value::Double(None),
            #[cfg(feature = "decimal")]
            (7, true) => Value::Decimal(None),
            #[cfg(feature = "uuid")]
            (8, true) => Value::Uuid(None),
            #[cfg(feature = "chrono")]
            (9, true) => Value::ChronoDate(None),
            #[cfg(feature = "chrono")]
            (10, true) => Value::ChronoDateTime(None),
            #[cfg(feature = "chrono")]
            (11, true) => Value::ChronoDateTimeUtc(None),
            (12, true) => Value::String(None),
            (1, false) => match self.take::<1>()? {
                [0] => Value::from(false),
                [1] => Value::from(true),
                _ => return Err(invalid("bad boolean")),
            },
            (2, false) => Value::from(i16::from_be_bytes(self.take()?)),
            (3, false) => Value::from(i32::from_be_bytes(self.take()?)),
            (4, false) => Value::from(i64::from_be_bytes(self.take()?)),
            (5, false) => Value::from(f32::from_bits(u32::from_be_bytes(self.take()?))),
            (6, false) => Value::from(f64::from_bits(u64::from_be_bytes(self.take()?))),
            #[cfg(feature = "decimal")]
            (7, false) => Value::from(rust_decimal::Decimal::deserialize(self.take()?)),
            #[cfg(feature = "uuid")]
            (8, false) => Value::from(uuid::Uuid::from_bytes(self.take()?)),
            #[cfg(feature = "chrono")]
            (9, false) => {
                let days = i32::from_be_bytes(self.take()?);
                let date = chrono::NaiveDate::from_num_days_from_ce_opt(days)
                    .ok_or_else(|| invalid("date out of range"))?;
                Value::from(date)
            }
            #[cfg(feature = "chrono")]
            (10, false) => Value::from(self.timestamp()?.naive_utc()),
            #[cfg(feature = "chrono")]
            (11, false) => Value::from(self.timestamp()?),
            (12, false) => {
                let len = u32::from_be_bytes(self.take()?) as usize;
                if self.0.len() < len {
                    return Err(invalid("truncated"));
                }
                let (text, rest) = self.0.split_at(len);
                self.0 = rest;
                let text = std::str::from_utf8(text).map_err(|_| invalid("text is not UTF-8"))?;
                Value::from(text.to_owned())
            }
            _ => return Err(invalid(format_args!("unknown value tag {tag}"))),
        };
        Ok(value)
    }
}

impl Cursor {
    /// The cursor as an opaque, URL-safe string (base64url, no padding),
    /// for an HTTP `?after=` parameter; [`Cursor::from_token`] reads it
    /// back.
    ///
    /// The token holds the cursor's values in a compact binary form and a
    /// check over them and the query's shape (model and ordering), so an
    /// altered or truncated token, or one from a query with another
    /// shape, is refused. The check is a plain hash, not a keyed one: it
    /// detects corruption and edits, not forgery, and the values are
    /// readable by anyone who decodes the base64. Do not put anything in
    /// an ordering column that the client may not see. A forged token can
    /// only move where the next batch starts: the query's filters (a
    /// tenant, a soft-delete flag) apply to every batch regardless.
    pub fn to_token(&self) -> String {
        let mut bytes = Vec::with_capacity(32);
        bytes.push(VERSION);
        bytes.extend(self.shape.to_be_bytes());
        // A keyset key per ordering column plus the primary key: few.
        bytes.push(u8::try_from(self.values.len()).unwrap_or(u8::MAX));
        for v in &self.values {
            encode_value(&v.0, &mut bytes);
        }
        let check = check_of(&bytes);
        bytes.extend(check);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a token made by [`Cursor::to_token`].
    ///
    /// Returns `Error::InvalidInput` if the token is not one: not base64url,
    /// truncated, altered (its check does not match), or of an unknown
    /// version. Whether it fits the query it is used with is checked when
    /// that query runs.
    pub fn from_token(token: &str) -> Result<Cursor> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| invalid("not base64url"))?;
        if bytes.len() < 1 + 8 + 1 + CHECK {
            return Err(invalid("too short"));
        }
        let (body, check) = bytes.split_at(bytes.len() - CHECK);
        if check_of(body) != check {
            return Err(invalid("it was altered or corrupted"));
        }
        if body[0] != VERSION {
            return Err(invalid(format_args!("unknown version {}", body[0])));
        }
        let mut r = Reader(&body[1..]);
        let shape = u64::from_be_bytes(r.take()?);
        let [count] = r.take()?;
        let mut values = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            values.push(bound(r.value()?));
        }
        if !r.0.is_empty() {
            return Err(invalid("trailing bytes"));
        }
        Ok(Cursor { shape, values })
    }
}

/// The token, as [`Cursor::to_token`].
impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_token())
    }
}

/// As [`Cursor::from_token`].
impl FromStr for Cursor {
    type Err = Error;
    fn from_str(token: &str) -> Result<Cursor> {
        Cursor::from_token(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Value> {
        #[cfg(feature = "chrono")]
        let t = chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        vec![
            Value::from(true),
            Value::from(-7_i16),
            Value::from(i32::MIN),
            Value::from(i64::MAX),
            Value::from(1.5_f32),
            Value::from(-0.25_f64),
            #[cfg(feature = "chrono")]
            Value::from(chrono::NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()),
            #[cfg(feature = "chrono")]
            Value::from(t.naive_utc()),
            #[cfg(feature = "chrono")]
            Value::from(t),
            Value::from("ünïcode ✓ %_\\".to_owned()),
            Value::from(String::new()),
            Value::Bool(None),
            Value::SmallInt(None),
            Value::Int(None),
            Value::BigInt(None),
            Value::Float(None),
            Value::Double(None),
            #[cfg(feature = "chrono")]
            Value::ChronoDate(None),
            #[cfg(feature = "chrono")]
            Value::ChronoDateTime(None),
            #[cfg(feature = "chrono")]
            Value::ChronoDateTimeUtc(None),
            Value::String(None),
            #[cfg(feature = "decimal")]
            Value::from(rust_decimal::Decimal::new(-12345, 3)),
            #[cfg(feature = "decimal")]
            Value::Decimal(None),
            #[cfg(feature = "uuid")]
            Value::from(uuid::Uuid::from_u128(0x1234_5678_9abc_def0)),
            #[cfg(feature = "uuid")]
            Value::Uuid(None),
        ]
    }

    fn cursor(values: Vec<Value>) -> Cursor {
        Cursor {
            shape: 0xdead_beef_0bad_f00d,
            values: values.into_iter().map(bound).collect(),
        }
    }

    #[test]
    fn every_value_kind_round_trips() {
        let c = cursor(every_kind());
        let token = c.to_token();
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "URL-safe: {token}"
        );
        assert_eq!(Cursor::from_token(&token).unwrap(), c);
        assert_eq!(token.parse::<Cursor>().unwrap(), c);
        assert_eq!(c.to_string(), token);
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn a_typical_token_is_short() {
        let t = chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        let token = cursor(vec![Value::from(t), Value::from(123_456_i64)]).to_token();
        assert!(token.len() <= 64, "{} chars: {token}", token.len());
    }

    fn assert_invalid(token: &str) {
        match Cursor::from_token(token) {
            Err(Error::InvalidInput { reason }) => {
                assert!(reason.starts_with("invalid cursor token"), "{reason}");
            }
            other => panic!("{token:?}: {other:?}"),
        }
    }

    #[test]
    fn altered_truncated_and_foreign_tokens_are_refused() {
        let token = cursor(vec![Value::from(42_i64), Value::from("x".to_owned())]).to_token();
        // Every single-character change is caught by the check.
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in 0..token.len() {
            let orig = token.as_bytes()[i] as char;
            let swap = alphabet.chars().find(|c| *c != orig).unwrap();
            let mut bad = token.clone();
            bad.replace_range(i..=i, &swap.to_string());
            if let Ok(c) = Cursor::from_token(&bad) {
                // The last character carries padding bits only in part;
                // a change that decodes to the same bytes is the same token.
                assert_eq!(c, Cursor::from_token(&token).unwrap(), "{bad}");
            }
        }
        for cut in 0..token.len() {
            assert_invalid(&token[..cut]);
        }
        assert_invalid("");
        assert_invalid("not a token!");
        assert_invalid(&format!("{token}AAAA"));
        assert_invalid(&URL_SAFE_NO_PAD.encode([0u8; 40]));
    }
}
