//! What the triggers send, as the listener reads it.
//!
//! The payload is JSON written by the table's trigger function (see
//! `crate::changes::sql`): `{"k":"u","keys":[1,2]}` for rows, or
//! `{"k":"u","table":true}` when the keys would not fit in a notification.

use serde::Deserialize;

/// The kind of write, as the trigger saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Insert,
    Update,
    Delete,
}

/// One notification, or a gap in them.
#[derive(Debug, Clone)]
pub(crate) enum Raw {
    /// These rows (their primary keys as JSON) were written.
    Rows {
        kind: Kind,
        keys: Vec<serde_json::Value>,
    },
    /// Some rows of the table were written; which ones did not fit.
    Table { kind: Kind },
    /// Notifications may have been lost here.
    Gap,
}

#[derive(Deserialize)]
struct Wire {
    k: String,
    #[serde(default)]
    keys: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    table: bool,
}

impl Raw {
    /// Reads a payload. Anything unreadable on a feed channel still means
    /// "this table changed": it becomes a table-level update, never nothing.
    pub(crate) fn parse(payload: &str) -> Raw {
        let Ok(wire) = serde_json::from_str::<Wire>(payload) else {
            return Raw::Table { kind: Kind::Update };
        };
        let kind = match wire.k.as_str() {
            "i" => Kind::Insert,
            "d" => Kind::Delete,
            _ => Kind::Update,
        };
        match wire.keys {
            Some(keys) if !wire.table => Raw::Rows { kind, keys },
            _ => Raw::Table { kind },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        assert!(matches!(
            Raw::parse(r#"{"k":"i","keys":[1, 2]}"#),
            Raw::Rows { kind: Kind::Insert, keys } if keys.len() == 2
        ));
        assert!(matches!(
            Raw::parse(r#"{"k":"d","table":true}"#),
            Raw::Table { kind: Kind::Delete }
        ));
        assert!(matches!(
            Raw::parse("garbage"),
            Raw::Table { kind: Kind::Update }
        ));
    }
}
