//! Bound values the server would refuse after the round trip: a NUL byte
//! in `text` (22021) or a `\u0000` in `jsonb` (22P05). Found before
//! sending, from the types the server gave the prepared statement, so the
//! check covers model writes, query-builder filters and raw SQL alike.
//!
//! Only parameters the server types as text-like (text, varchar, char, name,
//! citext, json), `jsonb`, a domain over one of them, or an array of them
//! are looked at, and
//! each is encoded once more into a reused buffer: statements with none (a
//! `get` by id, an integer filter) cost a walk over their parameter types.

use std::cell::RefCell;

use bytes::BytesMut;
use tokio_postgres::types::{Kind, ToSql, Type};

use super::lex::{Token, tokens};

thread_local! {
    static SCRATCH: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// What a value of one type is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// A NUL byte: text, varchar, char, name, citext, json (stored as text).
    Nul,
    /// The JSON escape `\u0000`: jsonb (its binary form is a version byte
    /// and the JSON text).
    NulEscape,
}

/// The check for a scalar type, domains resolved to their base type.
fn scalar(ty: &Type) -> Option<Check> {
    match *ty {
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON => Some(Check::Nul),
        Type::JSONB => Some(Check::NulEscape),
        _ => match ty.kind() {
            Kind::Domain(base) => scalar(base),
            // An extension type has no fixed OID: citext is text inside.
            _ if ty.name() == "citext" => Some(Check::Nul),
            _ => None,
        },
    }
}

/// The check for a parameter type, and whether it applies to each element
/// of an array.
fn check_of(ty: &Type) -> Option<(Check, bool)> {
    if let Some(check) = scalar(ty) {
        return Some((check, false));
    }
    match ty.kind() {
        Kind::Array(element) => scalar(element).map(|c| (c, true)),
        Kind::Domain(base) => check_of(base),
        _ => None,
    }
}

/// Whether any parameter is of a type [`nul_param`] looks into.
pub(crate) fn checks_any(types: &[Type]) -> bool {
    types.iter().any(|ty| check_of(ty).is_some())
}

/// The index of the first parameter holding what its type cannot store.
pub(crate) fn nul_param(types: &[Type], params: &[&(dyn ToSql + Sync)]) -> Option<usize> {
    types.iter().zip(params).position(|(ty, value)| {
        let Some((check, array)) = check_of(ty) else {
            return false;
        };
        SCRATCH.with(|buf| {
            let Ok(mut buf) = buf.try_borrow_mut() else {
                return false;
            };
            buf.clear();
            // A value that does not encode fails the same way when sent.
            if !matches!(
                value.to_sql_checked(ty, &mut buf),
                Ok(postgres_types::IsNull::No)
            ) {
                return false;
            }
            let holds = |bytes: &[u8]| match check {
                Check::Nul => bytes.contains(&0),
                Check::NulEscape => has_nul_escape(bytes),
            };
            if array {
                array_has(&buf, holds)
            } else {
                holds(&buf)
            }
        })
    })
}

/// Whether an array in PostgreSQL's binary format (dimensions, a null
/// flag, the element type, a size and lower bound per dimension, then a
/// length and the bytes of each element) has an element for which `holds`.
fn array_has(buf: &[u8], holds: impl Fn(&[u8]) -> bool) -> bool {
    let int = |at: usize| {
        buf.get(at..at + 4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let Some(dims) = int(0).and_then(|d| usize::try_from(d).ok()) else {
        return false;
    };
    let mut at = 12 + 8 * dims;
    while let Some(len) = int(at) {
        at += 4;
        // -1: a NULL element, no bytes.
        if let Ok(len) = usize::try_from(len) {
            if buf.get(at..at + len).is_some_and(&holds) {
                return true;
            }
            at += len;
        }
    }
    false
}

/// Whether JSON text holds the escape `\u0000` (not an escaped backslash
/// followed by `u0000`).
fn has_nul_escape(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json[i + 1..].starts_with(b"u0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// Names what parameter `$n` binds, for an error message: the column of an
/// `INSERT`'s column list, or the column a comparison or assignment puts it
/// against (`"email" = $2`). `None` when the text does not say.
pub(crate) fn column_of(sql: &str, n: u32) -> Option<String> {
    let t = tokens(sql).ok()?;
    let at = t.iter().position(|t| *t == Token::Param(n))?;
    const KEYWORDS: &[&str] = &[
        "select",
        "where",
        "and",
        "or",
        "set",
        "values",
        "then",
        "else",
        "when",
        "limit",
        "offset",
        "returning",
        "on",
        "by",
        "case",
        "having",
        "array",
        "row",
        "between",
    ];
    let name = |t: &Token<'_>| match t {
        Token::Word(w) if KEYWORDS.iter().any(|k| w.eq_ignore_ascii_case(k)) => None,
        Token::Word(w) => Some(w.to_string()),
        Token::QuotedIdent(q) => super::ident::unquote(q),
        _ => None,
    };
    if t.first().is_some_and(|t| t.is("insert")) {
        // INSERT INTO name (a, b) VALUES ($1, $2), ($3, $4)
        let open = t.iter().position(|t| *t == Token::Open)?;
        let close = open + t[open..].iter().position(|t| *t == Token::Close)?;
        let columns: Vec<String> = t[open + 1..close].iter().filter_map(name).collect();
        let tuple = at - t[..at].iter().rev().position(|t| *t == Token::Open)?;
        let position = t[tuple..at].iter().filter(|t| **t == Token::Punct).count();
        let column = columns.get(position).cloned()?;
        // Several rows: say which, as validation does (`[1].email`).
        let values = close + t[close..].iter().position(|t| t.is("values"))?;
        let rows = t[values..].iter().filter(|t| **t == Token::Open).count();
        let row = t[values..tuple]
            .iter()
            .filter(|t| **t == Token::Open)
            .count();
        return Some(if rows > 1 {
            format!("[{}].{column}", row.saturating_sub(1))
        } else {
            column
        });
    }
    // Back from `$n` over operators and comparison words to a name.
    let skip = [
        "is", "not", "distinct", "from", "like", "ilike", "any", "all", "in",
    ];
    t[..at]
        .iter()
        .rev()
        .find(|t| !matches!(t, Token::Punct | Token::Open) && !skip.iter().any(|k| t.is(k)))
        .and_then(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "json")]
    #[test]
    fn finds_nul_bytes_in_text_and_nul_escapes_in_jsonb() {
        let types = [Type::INT8, Type::TEXT, Type::JSONB];
        let json = serde_json::json!({"a": "x\u{0}y"});
        let clean = serde_json::json!({"a": "\\u0000"});
        let (id, good, bad) = (1_i64, "fine".to_string(), "a\0b".to_string());
        assert_eq!(nul_param(&types, &[&id, &good, &clean]), None);
        assert_eq!(nul_param(&types, &[&id, &bad, &clean]), Some(1));
        assert_eq!(nul_param(&types, &[&id, &good, &json]), Some(2));
        let tags = vec!["ok".to_string(), "x\0".to_string()];
        let fine = vec![Some("ok".to_string()), None];
        assert_eq!(nul_param(&[Type::TEXT_ARRAY], &[&tags]), Some(0));
        assert_eq!(nul_param(&[Type::TEXT_ARRAY], &[&fine]), None);
        // `json` (not jsonb) stores \u0000 as written.
        assert_eq!(nul_param(&[Type::JSON], &[&json]), None);
        // jsonb[]: each element's escapes.
        let docs = vec![serde_json::json!(1), json.clone()];
        assert_eq!(nul_param(&[Type::JSONB_ARRAY], &[&docs]), Some(0));
        assert_eq!(nul_param(&[Type::JSONB_ARRAY], &[&vec![clean]]), None);
        // An extension type, found by name.
        let citext = Type::new("citext".into(), 90_001, Kind::Simple, "public".into());
        assert_eq!(nul_param(&[citext], &[&bad]), Some(0));
    }

    #[test]
    fn names_the_column_a_parameter_binds() {
        let insert = r#"INSERT INTO "s"."users" ("email", "name") VALUES ($1, $2), ($3, $4)"#;
        assert_eq!(column_of(insert, 2).as_deref(), Some("[0].name"));
        assert_eq!(column_of(insert, 3).as_deref(), Some("[1].email"));
        let one = r#"INSERT INTO "users" ("email", "name") VALUES ($1, $2) RETURNING *"#;
        assert_eq!(column_of(one, 2).as_deref(), Some("name"));
        let update = r#"UPDATE "users" SET "name" = $2 WHERE "id" = $1"#;
        assert_eq!(column_of(update, 2).as_deref(), Some("name"));
        assert_eq!(column_of(update, 1).as_deref(), Some("id"));
        let filter = r#"SELECT * FROM t WHERE "email" LIKE $1 AND a IS DISTINCT FROM $2"#;
        assert_eq!(column_of(filter, 1).as_deref(), Some("email"));
        assert_eq!(column_of(filter, 2).as_deref(), Some("a"));
        assert_eq!(column_of("SELECT $1", 1), None);
        assert_eq!(column_of("SELECT * FROM t WHERE a = 1 AND $1", 1), None);
    }
}
