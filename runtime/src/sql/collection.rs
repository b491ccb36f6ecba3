//! The table a statement names first, for spans (`db.collection.name`):
//! `INSERT INTO t`, `UPDATE t`, `DELETE FROM t`, `MERGE INTO t`, `COPY t`,
//! `TRUNCATE t`, `TABLE t`, and a `SELECT`'s first top-level `FROM t`, as
//! written (`"app"."users"`, `users`). Read with the tokenizer, so comments
//! and literals cannot mislead it; anything else (a `WITH`, DDL, `FROM` a
//! subquery or a function) names no collection: `""`.

use super::lex::{Spanned, Token, spanned};

/// See the module docs.
pub(crate) fn collection(sql: &str) -> &str {
    let (tokens, _) = spanned(sql);
    let mut at = tokens
        .iter()
        .position(|t| !matches!(t.token, Token::Open))
        .unwrap_or(tokens.len());
    let Some(first) = tokens.get(at) else {
        return "";
    };
    at += 1;
    let word = |i: usize, kw: &str| tokens.get(i).is_some_and(|t| t.token.is(kw));
    let name_at = if first.token.is("INSERT") || first.token.is("MERGE") {
        word(at, "INTO").then_some(at + 1)
    } else if first.token.is("UPDATE") || first.token.is("COPY") || first.token.is("TABLE") {
        Some(at)
    } else if first.token.is("DELETE") {
        word(at, "FROM").then_some(at + 1)
    } else if first.token.is("TRUNCATE") {
        Some(if word(at, "TABLE") { at + 1 } else { at })
    } else if first.token.is("SELECT") {
        top_level_from(&tokens, at).map(|i| i + 1)
    } else {
        None
    };
    let Some(mut i) = name_at else { return "" };
    if word(i, "ONLY") {
        i += 1;
    }
    name(sql, &tokens, i, first.token.is("SELECT"))
}

/// The index of the first `FROM` outside parentheses, from `at`.
fn top_level_from(tokens: &[Spanned<'_>], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(at) {
        match t.token {
            Token::Open => depth += 1,
            Token::Close => depth = depth.saturating_sub(1),
            Token::Semicolon => return None,
            _ if depth == 0 && t.token.is("FROM") => return Some(i),
            _ => {}
        }
    }
    None
}

/// A possibly qualified name starting at token `i`, as written; `""` if
/// there is none (a subquery) or, after a `FROM` (`in_from`), it is a
/// function call.
fn name<'a>(sql: &'a str, tokens: &[Spanned<'_>], i: usize, in_from: bool) -> &'a str {
    let part = |j: usize| {
        tokens
            .get(j)
            .filter(|t| matches!(t.token, Token::Word(_) | Token::QuotedIdent(_)))
    };
    let Some(first) = part(i) else { return "" };
    let mut last = first;
    let mut j = i + 1;
    while matches!(tokens.get(j).map(|t| t.token), Some(Token::Dot)) {
        match part(j + 1) {
            Some(next) => {
                last = next;
                j += 2;
            }
            None => break,
        }
    }
    if in_from && matches!(tokens.get(j).map(|t| t.token), Some(Token::Open)) {
        return ""; // `FROM generate_series(..)`: a function, not a table
    }
    &sql[first.start..last.end]
}

#[cfg(test)]
mod tests {
    use super::collection;

    #[test]
    fn the_first_named_table_of_each_statement_kind() {
        for (sql, want) in [
            ("SELECT a FROM users WHERE id = $1", "users"),
            ("select a from \"app\".\"users\" u", "\"app\".\"users\""),
            ("SELECT (SELECT 1 FROM inner_t) FROM outer_t", "outer_t"),
            ("/* FROM x */ SELECT 'FROM y' FROM z", "z"),
            ("SELECT 1", ""),
            ("SELECT * FROM (SELECT 1) s", ""),
            ("SELECT * FROM generate_series(1, 3)", ""),
            ("INSERT INTO app.t (a) VALUES ($1) RETURNING id", "app.t"),
            ("UPDATE ONLY t SET a = 1", "t"),
            ("DELETE FROM t WHERE id = ANY($1)", "t"),
            ("COPY t (a, b) FROM STDIN BINARY", "t"),
            ("TRUNCATE TABLE t", "t"),
            ("TABLE t", "t"),
            ("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", "t"),
            ("WITH x AS (SELECT 1) SELECT * FROM x", ""),
            ("CREATE TABLE t (a int)", ""),
            ("(SELECT a FROM t)", "t"),
        ] {
            assert_eq!(collection(sql), want, "{sql}");
        }
    }
}
