//! Splitting a SQL file into statements, so each runs on its own and a
//! failure can be pinned to a line of the file.
//!
//! A `;` ends a statement only outside quotes and comments: `'...'` (with
//! `''`, and backslash escapes in `E'...'`), `"..."` identifiers, dollar
//! quotes (`$$...$$`, `$tag$...$tag$`), `-- ...` line comments and nested
//! `/* ... */` comments; nor inside parentheses or a SQL-standard function
//! body (`CREATE FUNCTION ... BEGIN ATOMIC ...; ...; END`), as psql splits
//! (see `crate::sql::split`).

use crate::sql::lex::{LexError, Token, spanned};
use crate::sql::split::statements;

/// One statement of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement<'a> {
    /// The text, from its first significant character up to (not including)
    /// the terminating `;`.
    pub(crate) sql: &'a str,
    /// 1-based line of the file on which the statement starts.
    pub(crate) line: u32,
}

impl Statement<'_> {
    /// The file line of a 1-based character position inside the statement,
    /// as PostgreSQL reports it in an error.
    pub(crate) fn line_of(&self, position: u32) -> u32 {
        let before = self
            .sql
            .chars()
            .take(usize::try_from(position.saturating_sub(1)).unwrap_or(usize::MAX));
        let newlines = before.filter(|&c| c == '\n').count();
        self.line
            .saturating_add(u32::try_from(newlines).unwrap_or(u32::MAX))
    }
}

/// Splits `sql` into statements, dropping empty ones (only whitespace and
/// comments). Reads the text with strata's SQL tokenizer and splits it where
/// the raw-SQL guards do ([`crate::sql::split`]).
pub(crate) fn split(sql: &str) -> Vec<Statement<'_>> {
    let (tokens, error) = spanned(sql);
    let mut out = Vec::new();
    for range in statements(&tokens, |t| t.token) {
        // A `;` ends the statement; else it runs to the end of the text.
        let end = tokens.get(range.end).map_or(sql.len(), |t| t.start);
        push(sql, tokens[range.start].start, end, &mut out);
    }
    // Text that does not lex (an unterminated quote or comment) belongs to
    // the statement it is in, up to the end: the server reports it.
    // (An open last statement already runs to the end.)
    let open_statement = tokens.last().is_some_and(|t| t.token != Token::Semicolon);
    if let Some((LexError::UnterminatedQuote, at)) = error
        && !open_statement
    {
        push(sql, at, sql.len(), &mut out);
    }
    out
}

/// Adds `src[start..end]`, trimmed, with the line it starts on.
fn push<'a>(src: &'a str, start: usize, end: usize, out: &mut Vec<Statement<'a>>) {
    let sql = src[start..end].trim_end();
    if sql.is_empty() {
        return;
    }
    let newlines = src.as_bytes()[..start].iter().filter(|&&b| b == b'\n');
    let line = 1 + u32::try_from(newlines.count()).unwrap_or(u32::MAX);
    out.push(Statement { sql, line });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<(&str, u32)> {
        split(sql).into_iter().map(|s| (s.sql, s.line)).collect()
    }

    #[test]
    fn splits_on_top_level_semicolons_with_lines() {
        let sql = "-- header\nCREATE TABLE a (x int);\n\n  INSERT INTO a\n  VALUES (1);\nSELECT 1";
        assert_eq!(
            texts(sql),
            [
                ("CREATE TABLE a (x int)", 2),
                ("INSERT INTO a\n  VALUES (1)", 4),
                ("SELECT 1", 6)
            ]
        );
    }

    #[test]
    fn ignores_semicolons_in_quotes_and_comments() {
        let sql =
            "SELECT 'a;b', \"c;d\", E'it\\'s;' /* x; /* nested; */ y; */ -- z;\n;\nSELECT 'o''k;'";
        let got = texts(sql);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1], ("SELECT 'o''k;'", 3));
    }

    #[test]
    fn dollar_quotes_keep_bodies_whole() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  PERFORM 1;\n  RETURN 2;\nEND $$;\n\
                   CREATE FUNCTION g() RETURNS text LANGUAGE sql AS $body$ SELECT '$$;' $body$;\n\
                   PREPARE p AS SELECT $1::int;";
        let got = texts(sql);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].0.ends_with("END $$"));
        assert_eq!(got[1].1, 6);
        assert_eq!(got[2], ("PREPARE p AS SELECT $1::int", 7));
    }

    #[test]
    fn begin_atomic_bodies_stay_whole() {
        let sql = "CREATE OR REPLACE FUNCTION h(x int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END;\n  SELECT 2;\nEND;\nSELECT 3;";
        let got = texts(sql);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].0.ends_with("END"));
        assert_eq!(got[1], ("SELECT 3", 6));
    }

    #[test]
    fn a_rule_with_several_actions_is_one_statement() {
        let sql = "CREATE RULE r AS ON INSERT TO t DO ALSO (\n  INSERT INTO a VALUES (1);\n  DELETE FROM b\n);\nSELECT 1";
        let got = texts(sql);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].0.ends_with(')'));
        assert_eq!(got[1], ("SELECT 1", 5));
    }

    #[test]
    fn a_comment_before_a_statement_is_not_part_of_it() {
        let got = texts("/* a; b */ SELECT 1; -- c;\n/* d */ SELECT 2");
        assert_eq!(got, [("SELECT 1", 1), ("SELECT 2", 2)]);
    }

    #[test]
    fn an_unterminated_quote_runs_to_the_end() {
        assert_eq!(
            texts("SELECT 1;\nSELECT 'oops; 2"),
            [("SELECT 1", 1), ("SELECT 'oops; 2", 2)]
        );
    }

    #[test]
    fn comments_only_is_empty() {
        assert!(texts("-- nothing\n/* here */\n ;; \n").is_empty());
    }

    #[test]
    fn positions_map_to_file_lines() {
        let stmts = split("\n\nCREATE TABLE t (\n  a int,\n  b nope\n);");
        let s = &stmts[0];
        assert_eq!(s.line, 3);
        let pos = s.sql.find("nope").unwrap() + 1;
        assert_eq!(s.line_of(u32::try_from(pos).unwrap()), 5);
    }
}
