//! A tokenizer for PostgreSQL's SQL: enough of `scan.l` to find words,
//! punctuation and statement boundaries the way the server does.
//!
//! It skips what the server skips (whitespace, `--` comments, nested
//! `/* */` comments) and keeps every kind of literal opaque: `'..'` with
//! `''`, `E'..'` with backslash escapes, `U&'..'`, `B'..'`, `X'..'`,
//! `N'..'`, dollar quotes with or without a tag, and `".."` identifiers.
//! Text the server would reject (an unterminated comment or quote) is
//! reported as [`LexError`], and callers treat it as unproven, never as
//! harmless. `standard_conforming_strings` is assumed on (the server's
//! default since 9.1; strata refuses a raw `SET` that could change it).

/// One token of SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    /// An unquoted identifier or keyword, as written (compare ignoring case).
    Word(&'a str),
    /// A `".."` identifier, with its quotes: never a keyword.
    QuotedIdent(&'a str),
    /// Any string literal, dollar quotes included: never a keyword.
    Literal,
    /// A number.
    Number,
    /// A `$1` parameter: its number.
    Param(u32),
    /// `(`.
    Open,
    /// `)`.
    Close,
    /// `;`: ends a statement.
    Semicolon,
    /// `.`: between a qualifier and a name.
    Dot,
    /// An operator or other punctuation (`,`, `.`, `::`, `=`, ..).
    Punct,
}

impl Token<'_> {
    /// Whether this is the unquoted word `keyword`, in any case.
    pub(crate) fn is(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

/// SQL the server would not accept as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LexError {
    /// A `/*` comment without its `*/`.
    UnterminatedComment,
    /// A quote or dollar quote without its end.
    UnterminatedQuote,
}

/// Splits `sql` into tokens.
pub(crate) fn tokens(sql: &str) -> Result<Vec<Token<'_>>, LexError> {
    let mut lexer = Lexer {
        src: sql,
        bytes: sql.as_bytes(),
        at: 0,
    };
    let mut out = Vec::new();
    while let Some(token) = lexer.next()? {
        out.push(token);
    }
    Ok(out)
}

/// Splits `sql` into tokens with their byte ranges. Text that does not
/// lex ends the list: the error comes with the byte where its token began.
pub(crate) fn spanned(sql: &str) -> (Vec<Spanned<'_>>, Option<(LexError, usize)>) {
    let mut lexer = Lexer {
        src: sql,
        bytes: sql.as_bytes(),
        at: 0,
    };
    let mut out = Vec::new();
    loop {
        let before = lexer.at;
        if let Err(err) = lexer.skip_space_and_comments() {
            return (out, Some((err, before)));
        }
        let start = lexer.at;
        match lexer.next() {
            Ok(Some(token)) => out.push(Spanned {
                token,
                start,
                end: lexer.at,
            }),
            Ok(None) => return (out, None),
            Err(err) => return (out, Some((err, start))),
        }
    }
}

/// A token and where it is in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spanned<'a> {
    /// The token.
    pub(crate) token: Token<'a>,
    /// Its first byte.
    pub(crate) start: usize,
    /// One past its last byte.
    pub(crate) end: usize,
}

/// The first word of `sql`, past comments and parentheses (`""` if none):
/// the statement's operation, as spans name it (`db.operation`).
pub(crate) fn first_word(sql: &str) -> &str {
    let mut lexer = Lexer {
        src: sql,
        bytes: sql.as_bytes(),
        at: 0,
    };
    while let Ok(Some(token)) = lexer.next() {
        match token {
            Token::Word(word) => return word,
            Token::Open => continue,
            _ => break,
        }
    }
    ""
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    at: usize,
}

fn ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn ident_cont(b: u8) -> bool {
    ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// Characters PostgreSQL's scanner reads as part of an operator.
fn op_char(b: u8) -> bool {
    b"~!@#^&|`?+-*/%<>=".contains(&b)
}

impl<'a> Lexer<'a> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.at + ahead).copied()
    }

    fn next(&mut self) -> Result<Option<Token<'a>>, LexError> {
        self.skip_space_and_comments()?;
        let Some(b) = self.peek(0) else {
            return Ok(None);
        };
        let token = match b {
            b'\'' => {
                self.at += 1;
                self.quoted(b'\'', false)?;
                Token::Literal
            }
            b'"' => {
                let start = self.at;
                self.at += 1;
                self.quoted(b'"', false)?;
                Token::QuotedIdent(&self.src[start..self.at])
            }
            b'$' => self.dollar()?,
            b'(' => self.one(Token::Open),
            b')' => self.one(Token::Close),
            b';' => self.one(Token::Semicolon),
            b'0'..=b'9' => self.number(),
            b'.' if self.peek(1).is_some_and(|c| c.is_ascii_digit()) => self.number(),
            b'.' => self.one(Token::Dot),
            _ if ident_start(b) => self.word_or_prefixed_literal()?,
            _ if op_char(b) => {
                while self.peek(0).is_some_and(op_char) {
                    // An operator ends where a comment begins.
                    if matches!((self.peek(0), self.peek(1)), (Some(b'-'), Some(b'-')))
                        || matches!((self.peek(0), self.peek(1)), (Some(b'/'), Some(b'*')))
                    {
                        break;
                    }
                    self.at += 1;
                }
                Token::Punct
            }
            _ => {
                // `,`, `.`, `:`, `[`, `]` and anything else: one character
                // (a multi-byte one whole, to stay on a char boundary).
                self.at += self.src[self.at..].chars().next().map_or(1, char::len_utf8);
                Token::Punct
            }
        };
        Ok(Some(token))
    }

    fn one(&mut self, token: Token<'a>) -> Token<'a> {
        self.at += 1;
        token
    }

    fn skip_space_and_comments(&mut self) -> Result<(), LexError> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(b), _) if b.is_ascii_whitespace() => self.at += 1,
                (Some(b'-'), Some(b'-')) => {
                    while self.peek(0).is_some_and(|b| b != b'\n' && b != b'\r') {
                        self.at += 1;
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    // Comments nest in PostgreSQL: `/* a /* b */ c */` is one.
                    self.at += 2;
                    let mut depth = 1;
                    while depth > 0 {
                        match (self.peek(0), self.peek(1)) {
                            (None, _) => return Err(LexError::UnterminatedComment),
                            (Some(b'/'), Some(b'*')) => {
                                depth += 1;
                                self.at += 2;
                            }
                            (Some(b'*'), Some(b'/')) => {
                                depth -= 1;
                                self.at += 2;
                            }
                            _ => self.at += 1,
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Past the opening quote: reads up to the closing one. A doubled quote
    /// is an escaped quote; with `backslash`, so is `\'` (and `\\`).
    fn quoted(&mut self, quote: u8, backslash: bool) -> Result<(), LexError> {
        loop {
            match self.peek(0) {
                None => return Err(LexError::UnterminatedQuote),
                Some(b'\\') if backslash => self.at += 2,
                Some(b) if b == quote => {
                    self.at += 1;
                    if self.peek(0) == Some(quote) {
                        self.at += 1;
                    } else {
                        return Ok(());
                    }
                }
                Some(_) => self.at += 1,
            }
        }
    }

    /// `$1` (a parameter), `$$..$$` or `$tag$..$tag$` (a dollar quote).
    fn dollar(&mut self) -> Result<Token<'a>, LexError> {
        if self.peek(1).is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
            let start = self.at;
            while self.peek(0).is_some_and(|b| b.is_ascii_digit()) {
                self.at += 1;
            }
            return Ok(match self.src[start..self.at].parse() {
                Ok(n) => Token::Param(n),
                Err(_) => Token::Number,
            });
        }
        // A tag is an identifier without `$`: `$a$`, or empty: `$$`.
        let mut end = self.at + 1;
        if self.bytes.get(end).copied().is_some_and(ident_start) {
            while self
                .bytes
                .get(end)
                .copied()
                .is_some_and(|b| ident_cont(b) && b != b'$')
            {
                end += 1;
            }
        }
        if self.bytes.get(end) != Some(&b'$') {
            // A lone `$` is not valid SQL; keep it opaque punctuation.
            self.at += 1;
            return Ok(Token::Punct);
        }
        let tag = &self.src[self.at..=end];
        let body = end + 1;
        match self.src[body..].find(tag) {
            Some(close) => {
                self.at = body + close + tag.len();
                Ok(Token::Literal)
            }
            None => Err(LexError::UnterminatedQuote),
        }
    }

    fn number(&mut self) -> Token<'a> {
        while self
            .peek(0)
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
        {
            // `1e-5` and `1e+5`: the sign belongs to the number.
            if matches!(self.peek(0), Some(b'e' | b'E'))
                && matches!(self.peek(1), Some(b'+' | b'-'))
            {
                self.at += 1;
            }
            self.at += 1;
        }
        Token::Number
    }

    /// A word, or a literal with a letter prefix: `E'..'`, `B'..'`,
    /// `X'..'`, `N'..'`, `U&'..'` (and `U&".."`, an identifier).
    fn word_or_prefixed_literal(&mut self) -> Result<Token<'a>, LexError> {
        let first = self.bytes[self.at].to_ascii_lowercase();
        match (first, self.peek(1), self.peek(2)) {
            (b'e', Some(b'\''), _) => {
                self.at += 2;
                self.quoted(b'\'', true)?;
                return Ok(Token::Literal);
            }
            (b'b' | b'x' | b'n', Some(b'\''), _) => {
                self.at += 2;
                self.quoted(b'\'', false)?;
                return Ok(Token::Literal);
            }
            (b'u', Some(b'&'), Some(q @ (b'\'' | b'"'))) => {
                let start = self.at + 2;
                self.at += 3;
                self.quoted(q, false)?;
                return Ok(if q == b'"' {
                    Token::QuotedIdent(&self.src[start..self.at])
                } else {
                    Token::Literal
                });
            }
            _ => {}
        }
        let start = self.at;
        while self.peek(0).is_some_and(ident_cont) {
            self.at += 1;
        }
        Ok(Token::Word(&self.src[start..self.at]))
    }
}

#[cfg(test)]
mod tests {
    use super::Token::*;
    use super::*;

    #[test]
    fn skips_comments_and_keeps_literals_opaque() {
        let t = tokens("/* a /* nested */ b */ -- line\n SELECT 'x;''y' , $$;$$, $q$ $$ ; $q$, E'\\';', \"a\"\"b\" ; BEGIN").unwrap();
        assert_eq!(
            t,
            vec![
                Word("SELECT"),
                Literal,
                Punct,
                Literal,
                Punct,
                Literal,
                Punct,
                Literal,
                Punct,
                QuotedIdent("\"a\"\"b\""),
                Semicolon,
                Word("BEGIN"),
            ]
        );
    }

    #[test]
    fn parameters_identifiers_with_dollars_and_operators() {
        let t = tokens("a$b$ = $1 AND x::int<>-2 /*c*/").unwrap();
        assert_eq!(
            t,
            vec![
                Word("a$b$"),
                Punct,
                Param(1),
                Word("AND"),
                Word("x"),
                Punct,
                Punct,
                Word("int"),
                Punct,
                Number,
            ]
        );
    }

    #[test]
    fn refuses_what_the_server_would() {
        assert_eq!(tokens("/* open"), Err(LexError::UnterminatedComment));
        assert_eq!(tokens("/* a /* b */"), Err(LexError::UnterminatedComment));
        assert_eq!(tokens("SELECT 'open"), Err(LexError::UnterminatedQuote));
        assert_eq!(tokens("SELECT $x$ open"), Err(LexError::UnterminatedQuote));
        assert_eq!(tokens("SELECT E'\\'"), Err(LexError::UnterminatedQuote));
    }
}
