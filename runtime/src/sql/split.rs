//! Where one statement ends and the next begins, by psql's rules, for both
//! the raw-SQL guards (`Sql::Many`) and migration files.
//!
//! A `;` ends a statement only at the top level: not inside parentheses
//! (`CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT ..; UPDATE ..)`), and
//! not inside the body of a `CREATE [OR REPLACE] FUNCTION|PROCEDURE`, where
//! `BEGIN` and `CASE` open a level that `END` closes (SQL-standard
//! `BEGIN ATOMIC .. END` bodies). Quotes and comments are already gone: the
//! input is tokens ([`super::lex`]). One splitter, so a file the migrator
//! runs as N statements is N statements to the guards too.

use std::ops::Range;

use super::lex::Token;

/// The token ranges of the statements in `tokens`, without their `;` and
/// without empty statements.
pub(crate) fn statements<T>(tokens: &[T], token: impl Fn(&T) -> Token<'_>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut parens = 0usize;
    let mut blocks = 0usize;
    let mut routine = Routine::default();
    for (i, t) in tokens.iter().enumerate() {
        match token(t) {
            Token::Open => parens += 1,
            Token::Close => parens = parens.saturating_sub(1),
            Token::Semicolon if parens == 0 && blocks == 0 => {
                if i > start {
                    out.push(start..i);
                }
                start = i + 1;
                routine = Routine::default();
            }
            Token::Word(w) => {
                routine.word(w);
                if routine.is_routine() {
                    if w.eq_ignore_ascii_case("begin") || w.eq_ignore_ascii_case("case") {
                        blocks += 1;
                    } else if w.eq_ignore_ascii_case("end") {
                        blocks = blocks.saturating_sub(1);
                    }
                }
            }
            _ => routine.other(),
        }
    }
    if tokens.len() > start {
        out.push(start..tokens.len());
    }
    out
}

/// Whether the statement so far began `CREATE [OR REPLACE] FUNCTION` or
/// `.. PROCEDURE`: read from its first words only.
#[derive(Default)]
struct Routine {
    /// Leading words seen (up to four).
    words: u8,
    /// What they spell so far.
    state: Head,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Head {
    #[default]
    Start,
    Create,
    CreateOr,
    CreateOrReplace,
    Yes,
    No,
}

impl Routine {
    fn word(&mut self, w: &str) {
        if self.words >= 4 {
            return;
        }
        self.words += 1;
        let is = |k: &str| w.eq_ignore_ascii_case(k);
        self.state = match self.state {
            Head::Start if is("create") => Head::Create,
            Head::Create if is("or") => Head::CreateOr,
            Head::CreateOr if is("replace") => Head::CreateOrReplace,
            Head::Create | Head::CreateOrReplace if is("function") || is("procedure") => Head::Yes,
            Head::Yes => Head::Yes,
            _ => Head::No,
        };
    }

    /// A token that is not a word before the head is complete: not a routine.
    fn other(&mut self) {
        if self.state != Head::Yes {
            self.state = Head::No;
            self.words = 4;
        }
    }

    fn is_routine(&self) -> bool {
        self.state == Head::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::lex::tokens;

    fn count(sql: &str) -> usize {
        let t = tokens(sql).unwrap();
        statements(&t, |t| *t).len()
    }

    #[test]
    fn splits_like_psql() {
        assert_eq!(count("SELECT 1; SELECT 2"), 2);
        assert_eq!(count(";;"), 0);
        assert_eq!(count("SELECT (1); SELECT ((2))"), 2);
        assert_eq!(
            count(
                "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); UPDATE b SET x = 1); SELECT 1"
            ),
            2
        );
        assert_eq!(
            count(
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 1 END; END; SELECT 2"
            ),
            2
        );
        assert_eq!(
            count("CREATE OR REPLACE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC SELECT 1; END"),
            1
        );
        // BEGIN outside a routine is transaction control, not a block.
        assert_eq!(count("BEGIN; SELECT 1; END"), 3);
        assert_eq!(count("SELECT CASE WHEN true THEN 1 END; SELECT 2"), 2);
        // An unbalanced `)` does not swallow the rest.
        assert_eq!(count("SELECT 1); SELECT 2"), 2);
    }
}
