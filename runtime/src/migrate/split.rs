//! Splitting a SQL file into statements, so each runs on its own and a
//! failure can be pinned to a line of the file.
//!
//! A `;` ends a statement only outside quotes and comments: `'...'` (with
//! `''`, and backslash escapes in `E'...'`), `"..."` identifiers, dollar
//! quotes (`$$...$$`, `$tag$...$tag$`), `-- ...` line comments and nested
//! `/* ... */` comments. SQL-standard function bodies
//! (`CREATE FUNCTION ... BEGIN ATOMIC ...; ...; END`) are kept whole the way
//! psql does it: inside a `CREATE [OR REPLACE] FUNCTION|PROCEDURE`, `BEGIN`
//! and `CASE` open a level that `END` closes.

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
/// comments).
pub(crate) fn split(sql: &str) -> Vec<Statement<'_>> {
    Splitter::new(sql).run()
}

struct Splitter<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    line: u32,
    out: Vec<Statement<'a>>,
    /// Start byte and line of the current statement's first significant character.
    start: Option<(usize, u32)>,
    /// Leading words of the current statement, lowercased (up to four).
    head: Vec<String>,
    /// `BEGIN`/`CASE` ... `END` depth inside a function body.
    depth: u32,
}

impl<'a> Splitter<'a> {
    fn new(src: &'a str) -> Self {
        Splitter {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            line: 1,
            out: Vec::new(),
            start: None,
            head: Vec::new(),
            depth: 0,
        }
    }

    fn peek(&self, off: usize) -> Option<u8> {
        self.bytes.get(self.pos + off).copied()
    }

    /// Moves to byte `to`, counting newlines on the way.
    fn advance_to(&mut self, to: usize) {
        let to = to.min(self.bytes.len());
        let newlines = self.bytes[self.pos..to].iter().filter(|&&b| b == b'\n');
        self.line += u32::try_from(newlines.count()).unwrap_or(u32::MAX);
        self.pos = to;
    }

    fn mark_start(&mut self) {
        if self.start.is_none() {
            self.start = Some((self.pos, self.line));
        }
    }

    fn finish(&mut self, end: usize) {
        if let Some((start, line)) = self.start.take() {
            let sql = self.src[start..end].trim_end();
            if !sql.is_empty() {
                self.out.push(Statement { sql, line });
            }
        }
        self.head.clear();
        self.depth = 0;
    }

    fn run(mut self) -> Vec<Statement<'a>> {
        while let Some(b) = self.peek(0) {
            match b {
                b';' if self.depth == 0 => {
                    self.finish(self.pos);
                    self.advance_to(self.pos + 1);
                }
                b'-' if self.peek(1) == Some(b'-') => {
                    let end = self.find_from(self.pos, "\n").unwrap_or(self.bytes.len());
                    self.advance_to(end);
                }
                b'/' if self.peek(1) == Some(b'*') => self.block_comment(),
                b'\'' => {
                    self.mark_start();
                    let escapes = self.pos > 0
                        && matches!(self.bytes[self.pos - 1], b'e' | b'E')
                        && !(self.pos > 1 && is_ident(self.bytes[self.pos - 2]));
                    self.quoted(b'\'', escapes);
                }
                b'"' => {
                    self.mark_start();
                    self.quoted(b'"', false);
                }
                b'$' if self.dollar_tag().is_some() => {
                    self.mark_start();
                    let tag_len = self.dollar_tag().unwrap_or(0);
                    let tag = &self.src[self.pos..self.pos + tag_len];
                    let body = self.pos + tag_len;
                    let end = self
                        .find_from(body, tag)
                        .map_or(self.bytes.len(), |i| i + tag_len);
                    self.advance_to(end);
                }
                b if b.is_ascii_whitespace() => self.advance_to(self.pos + 1),
                b if is_ident_start(b) => {
                    self.mark_start();
                    self.word();
                }
                _ => {
                    self.mark_start();
                    // Step over one whole UTF-8 character.
                    let len = self.src[self.pos..]
                        .chars()
                        .next()
                        .map_or(1, char::len_utf8);
                    self.advance_to(self.pos + len);
                }
            }
        }
        self.finish(self.bytes.len());
        self.out
    }

    fn find_from(&self, from: usize, needle: &str) -> Option<usize> {
        self.src.get(from..)?.find(needle).map(|i| from + i)
    }

    fn block_comment(&mut self) {
        let mut depth = 0u32;
        let mut i = self.pos;
        while i < self.bytes.len() {
            match (self.bytes[i], self.bytes.get(i + 1)) {
                (b'/', Some(b'*')) => {
                    depth += 1;
                    i += 2;
                }
                (b'*', Some(b'/')) => {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                }
                _ => i += 1,
            }
        }
        self.advance_to(i);
    }

    /// Skips a quoted literal or identifier; a doubled quote is an escape.
    fn quoted(&mut self, q: u8, backslash: bool) {
        let mut i = self.pos + 1;
        while i < self.bytes.len() {
            let b = self.bytes[i];
            if backslash && b == b'\\' {
                i += 2;
            } else if b == q {
                if self.bytes.get(i + 1) == Some(&q) {
                    i += 2;
                } else {
                    i += 1;
                    break;
                }
            } else {
                i += 1;
            }
        }
        self.advance_to(i);
    }

    /// The length of a dollar-quote opener (`$$` or `$tag$`) at the current
    /// position, if there is one. `$1` and `a$b` are not openers.
    fn dollar_tag(&self) -> Option<usize> {
        if self.pos > 0 && is_ident(self.bytes[self.pos - 1]) {
            return None;
        }
        let rest = &self.bytes[self.pos + 1..];
        let tag_len = rest
            .iter()
            .take_while(|&&b| is_ident(b) && b != b'$')
            .count();
        if tag_len > 0 && rest[0].is_ascii_digit() {
            return None;
        }
        (rest.get(tag_len) == Some(&b'$')).then_some(tag_len + 2)
    }

    /// Reads a keyword or identifier and tracks function-body nesting.
    fn word(&mut self) {
        let end = self.bytes[self.pos..]
            .iter()
            .position(|&b| !is_ident(b))
            .map_or(self.bytes.len(), |i| self.pos + i);
        let word = self.src[self.pos..end].to_ascii_lowercase();
        self.advance_to(end);
        if self.head.len() < 4 {
            self.head.push(word.clone());
        }
        if !self.in_routine() {
            return;
        }
        match word.as_str() {
            "begin" | "case" => self.depth += 1,
            "end" => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
    }

    fn in_routine(&self) -> bool {
        let h: Vec<&str> = self.head.iter().map(String::as_str).collect();
        matches!(
            h.as_slice(),
            ["create", "function" | "procedure", ..]
                | ["create", "or", "replace", "function" | "procedure", ..]
        )
    }
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
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
