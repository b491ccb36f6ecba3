//! What a raw statement can do to the connection it runs on, read from its
//! tokens ([`super::lex`]) with PostgreSQL's grammar in mind.
//!
//! The classes are conservative: a statement is only [`Class::Query`] or
//! [`Class::Dml`] when its first word proves it, and only
//! [`Statement::proven_read`] when nothing in it can write. Anything the
//! grammar leaves open (`CALL`, `DO`, DDL, an unknown word, text that does
//! not lex) is [`Class::Other`], which the executor follows with a check of
//! the server's own state.

use super::catalog::{NOT_CALLS, PURE_FUNCTIONS};
use super::lex::{LexError, Token, tokens};

/// What a statement does beyond reading and writing rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// `SELECT`, `VALUES`, `TABLE`, `WITH`, `SHOW`, `EXPLAIN`.
    Query,
    /// `INSERT`, `UPDATE`, `DELETE`, `MERGE`.
    Dml,
    /// Starts or ends a transaction: `BEGIN`, `START`, `COMMIT`, `END`,
    /// `ABORT`, `ROLLBACK` (not `TO`), `PREPARE TRANSACTION`,
    /// `COMMIT PREPARED`, `ROLLBACK PREPARED`.
    Transaction,
    /// `SAVEPOINT`, `RELEASE`, `ROLLBACK TO`.
    Savepoint,
    /// Changes the session past the statement (and past a transaction's
    /// end): `SET` (not `LOCAL`, `TRANSACTION` or `CONSTRAINTS`), `RESET`,
    /// `DISCARD`, `LISTEN`, `UNLISTEN`, `PREPARE`, `DEALLOCATE`, `DECLARE`,
    /// `LOAD`, `CREATE TEMP ..`, `SELECT .. INTO TEMP ..`.
    Session,
    /// Scoped to the transaction it runs in: `SET LOCAL`, `SET TRANSACTION`,
    /// `SET CONSTRAINTS`.
    TxScoped,
    /// Anything else: DDL, `CALL`, `DO`, `COPY`, `LOCK`, `VACUUM`, unknown.
    Other,
}

/// One raw statement, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    /// Its class.
    pub(crate) class: Class,
    /// The words that decided the class, upper-cased, for messages.
    pub(crate) head: String,
    /// Why it is not a plain read, if it is not one.
    pub(crate) not_read: Option<&'static str>,
    /// Whether it calls a function that is not on the list known to leave
    /// the session alone.
    pub(crate) calls_unknown_function: bool,
    /// Whether it names something that can change the session without a
    /// session command: `pg_temp` (a temporary table by its schema),
    /// `pg_settings` (whose update rule calls `set_config`), or a `CREATE`
    /// anywhere (`EXPLAIN ANALYZE CREATE TEMP TABLE ..`).
    pub(crate) names_session_objects: bool,
}

impl Statement {
    /// A single query that cannot write by any means the text shows
    /// (functions it calls are the server's to refuse: see the executor).
    pub(crate) fn proven_read(&self) -> bool {
        self.not_read.is_none()
    }
}

/// The classified raw SQL of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sql {
    /// Exactly one statement (empty ones, `;;`, dropped as the server does).
    One(Statement),
    /// Several statements: the extended protocol takes one.
    Many(usize),
    /// No statement at all.
    Empty,
    /// Text that does not lex.
    Unlexable(LexError),
}

/// Classifies raw SQL.
pub(crate) fn classify(sql: &str) -> Sql {
    let tokens = match tokens(sql) {
        Ok(t) => t,
        Err(e) => return Sql::Unlexable(e),
    };
    let statements: Vec<&[Token<'_>]> = super::split::statements(&tokens, |t| *t)
        .into_iter()
        .map(|r| &tokens[r])
        .collect();
    match statements.as_slice() {
        [] => Sql::Empty,
        [one] => Sql::One(statement(one)),
        many => Sql::Many(many.len()),
    }
}

fn statement(t: &[Token<'_>]) -> Statement {
    // `(SELECT 1) UNION (SELECT 2)`: parentheses before the first word.
    let body = {
        let open = t.iter().take_while(|t| **t == Token::Open).count();
        &t[open..]
    };
    let word = |i: usize| body.get(i).filter(|t| matches!(t, Token::Word(_)));
    let is = |i: usize, k: &str| body.get(i).is_some_and(|t| t.is(k));
    // Every raw statement is classified on every call: the words and the
    // head are compared and built without a copy per word.
    let head = |n: usize| {
        let mut out = String::new();
        for t in body.iter().take(n) {
            if let Token::Word(w) = t {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.extend(w.chars().map(|c| c.to_ascii_uppercase()));
            }
        }
        out
    };
    let listed = |list: &[&str], w: &str| list.iter().any(|k| k.eq_ignore_ascii_case(w));
    let calls_unknown_function = t.windows(2).enumerate().any(|(i, w)| match w {
        [Token::Word(name), Token::Open] => {
            // `app.lower(..)` is the user's function; `pg_catalog.lower(..)` is not.
            let qualified = i > 0 && t[i - 1] == Token::Dot;
            let in_catalog = i > 1 && t[i - 2].is("pg_catalog");
            // A name followed by its column list is a relation, not a call:
            // `INSERT INTO [s.]t (a, b)`, `WITH c (a) AS ..`, `AS t (a, b)`.
            let start = if qualified { i.saturating_sub(2) } else { i };
            let column_list = start > 0
                && ["into", "with", "recursive", "as", "table"]
                    .iter()
                    .any(|k| t[start - 1].is(k));
            if column_list {
                false
            } else if qualified && !in_catalog {
                true
            } else {
                !listed(NOT_CALLS, name) && !listed(PURE_FUNCTIONS, name)
            }
        }
        // `"f"(..)`: a quoted name is never grammar.
        [Token::QuotedIdent(_), Token::Open] => true,
        _ => false,
    });
    let names_session_objects = t.iter().any(|t| {
        let word = match t {
            Token::Word(w) => *w,
            Token::QuotedIdent(q) => &q[1..q.len() - 1],
            _ => return false,
        };
        ["pg_temp", "pg_settings", "create"]
            .iter()
            .any(|k| word.eq_ignore_ascii_case(k))
            || word
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case("pg_temp_"))
    });
    let mk = |class, words: usize, not_read| Statement {
        class,
        head: head(words),
        not_read,
        calls_unknown_function,
        names_session_objects,
    };
    if word(0).is_none() {
        return mk(Class::Other, 1, Some("it does not start with a keyword"));
    }
    let (class, words) = if is(0, "begin") || is(0, "start") || is(0, "abort") || is(0, "end") {
        (Class::Transaction, 1)
    } else if is(0, "commit") {
        (Class::Transaction, if is(1, "prepared") { 2 } else { 1 })
    } else if is(0, "rollback") {
        // ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name
        let to = (1..=2).any(|i| is(i, "to"));
        if to {
            (Class::Savepoint, 2)
        } else {
            (Class::Transaction, if is(1, "prepared") { 2 } else { 1 })
        }
    } else if is(0, "prepare") {
        if is(1, "transaction") {
            (Class::Transaction, 2)
        } else {
            (Class::Session, 1)
        }
    } else if is(0, "savepoint") || is(0, "release") {
        (Class::Savepoint, 1)
    } else if is(0, "set") {
        if is(1, "local") || is(1, "transaction") || is(1, "constraints") {
            (Class::TxScoped, 2)
        } else {
            (Class::Session, 2)
        }
    } else if is(0, "declare") {
        // A cursor WITH HOLD outlives its transaction; others end with it.
        let hold = body.windows(2).any(|w| w[0].is("with") && w[1].is("hold"));
        (
            if hold {
                Class::Session
            } else {
                Class::TxScoped
            },
            1,
        )
    } else if [
        "reset",
        "discard",
        "listen",
        "unlisten",
        "deallocate",
        "load",
    ]
    .iter()
    .any(|k| is(0, k))
    {
        (Class::Session, 1)
    } else if is(0, "create") {
        // CREATE [OR REPLACE] [GLOBAL | LOCAL] { TEMP | TEMPORARY } ..
        let temp = body
            .iter()
            .take(5)
            .any(|t| t.is("temp") || t.is("temporary"));
        (if temp { Class::Session } else { Class::Other }, 2)
    } else if ["select", "values", "table", "with", "show", "explain"]
        .iter()
        .any(|k| is(0, k))
    {
        if into_temp(body) {
            (Class::Session, 1)
        } else {
            (Class::Query, 1)
        }
    } else if ["insert", "update", "delete", "merge"]
        .iter()
        .any(|k| is(0, k))
    {
        (Class::Dml, 1)
    } else {
        (Class::Other, 1)
    };
    let not_read = match class {
        Class::Query => query_writes(body),
        _ => Some("it is not a query"),
    };
    mk(class, words, not_read)
}

/// `SELECT .. INTO TEMP ..`: creates a session-wide table.
fn into_temp(t: &[Token<'_>]) -> bool {
    t.windows(2)
        .any(|w| w[0].is("into") && (w[1].is("temp") || w[1].is("temporary") || w[1].is("local")))
}

/// Why a query-class statement might still write, or `None` if its text
/// shows no way: `EXPLAIN ANALYZE` runs its statement; `SELECT .. INTO`
/// creates a table; `FOR UPDATE`/`FOR SHARE` lock rows; a `WITH` may hold
/// `INSERT`, `UPDATE`, `DELETE` or `MERGE`. The checks look at every word,
/// not only the first, and refuse on sight: a column spelled like one of
/// these keywords must be quoted to pass.
fn query_writes(t: &[Token<'_>]) -> Option<&'static str> {
    if t.first().is_some_and(|t| t.is("explain")) {
        // EXPLAIN ANALYZE / ANALYSE, bare or in the option list, quoted or
        // not, in any position, with any value: refused without reading it.
        let analyze = |t: &Token<'_>| match t {
            Token::Word(w) => {
                w.eq_ignore_ascii_case("analyze") || w.eq_ignore_ascii_case("analyse")
            }
            Token::QuotedIdent(q) => {
                let q = &q[1..q.len() - 1];
                q.eq_ignore_ascii_case("analyze") || q.eq_ignore_ascii_case("analyse")
            }
            _ => false,
        };
        if t.iter().any(analyze) {
            return Some("EXPLAIN ANALYZE runs the statement it explains");
        }
    }
    if t.iter().any(|t| t.is("pg_notify")) {
        // Allowed in a read-only transaction, and delivered twice if the
        // statement were repeated.
        return Some("pg_notify sends a notification");
    }
    if t.iter().any(|t| t.is("into")) {
        return Some("SELECT .. INTO creates a table");
    }
    if t.windows(2).any(|w| {
        w[0].is("for") && (w[1].is("update") || w[1].is("share") || w[1].is("no") || w[1].is("key"))
    }) {
        return Some("FOR UPDATE / FOR SHARE lock rows");
    }
    if t.iter()
        .any(|t| t.is("insert") || t.is("update") || t.is("delete") || t.is("merge"))
    {
        return Some("it holds a data-modifying statement");
    }
    None
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
