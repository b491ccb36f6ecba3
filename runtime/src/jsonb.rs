//! strata's own `jsonb` columns (audit records' rows, session data), read
//! and written by strata itself: the `json` feature's `ToSql`/`FromSql`
//! for `serde_json::Value` are for applications' model columns, and
//! strata's tables must work without it.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use postgres_types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A JSON document in a `jsonb` (or `json`) column.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct JsonDoc(pub(crate) Value);

/// The version byte that starts `jsonb`'s binary form.
const JSONB_VERSION: u8 = 1;

impl JsonDoc {
    /// The document.
    pub(crate) fn into_inner(self) -> Value {
        self.0
    }
}

impl ToSql for JsonDoc {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        if *ty == Type::JSONB {
            out.put_u8(JSONB_VERSION);
        }
        serde_json::to_writer(out.writer(), &self.0)?;
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for JsonDoc {
    fn from_sql(ty: &Type, mut raw: &'a [u8]) -> Result<JsonDoc, Box<dyn StdError + Sync + Send>> {
        if *ty == Type::JSONB {
            match raw.split_first() {
                Some((&JSONB_VERSION, rest)) => raw = rest,
                _ => return Err("unsupported jsonb version".into()),
            }
        }
        Ok(JsonDoc(serde_json::from_slice(raw)?))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }
}
