//! Text matching on string columns: `LIKE`/`ILIKE` with a pattern, and
//! the literal searches (`contains`, `starts_with`, ..) that escape the
//! text first, since a pattern built from user input is a bug waiting.

use super::cond::{Cond, bound};
use super::operand::Comparable;
use super::{Column, Filter};

impl<M, T> Column<M, T>
where
    T: Comparable<Operand = String>,
{
    /// `LIKE pattern`: the text is a pattern, in which `%` matches any
    /// run of characters, `_` any one character and `\` escapes the next
    /// one (a pattern ending in a lone `\` is a database error). For text
    /// from users use [`Column::contains`], [`Column::starts_with`] or
    /// [`Column::ends_with`], or [`escape_like`] the text first. The pattern
    /// is bound, never spliced.
    pub fn like(self, pattern: impl Into<String>) -> Filter<M> {
        Filter::new(Cond::Like(self.name, false, bound(pattern.into().into())))
    }
    /// `ILIKE pattern`: case-insensitive [`Column::like`], with the same
    /// pattern syntax.
    pub fn ilike(self, pattern: impl Into<String>) -> Filter<M> {
        Filter::new(Cond::Like(self.name, true, bound(pattern.into().into())))
    }

    fn search(self, insensitive: bool, before: &str, text: &str, after: &str) -> Filter<M> {
        let pattern = format!("{before}{}{after}", escape_like(text));
        Filter::new(Cond::Like(self.name, insensitive, bound(pattern.into())))
    }

    /// The column contains `text` literally: `%`, `_` and `\` in it are
    /// plain characters (`LIKE '%' || escaped || '%'`).
    pub fn contains(self, text: impl AsRef<str>) -> Filter<M> {
        self.search(false, "%", text.as_ref(), "%")
    }
    /// The column starts with `text`, taken literally.
    pub fn starts_with(self, text: impl AsRef<str>) -> Filter<M> {
        self.search(false, "", text.as_ref(), "%")
    }
    /// The column ends with `text`, taken literally.
    pub fn ends_with(self, text: impl AsRef<str>) -> Filter<M> {
        self.search(false, "%", text.as_ref(), "")
    }
    /// [`Column::contains`], ignoring case (`ILIKE`).
    pub fn icontains(self, text: impl AsRef<str>) -> Filter<M> {
        self.search(true, "%", text.as_ref(), "%")
    }
    /// [`Column::starts_with`], ignoring case (`ILIKE`).
    pub fn istarts_with(self, text: impl AsRef<str>) -> Filter<M> {
        self.search(true, "", text.as_ref(), "%")
    }
    /// [`Column::ends_with`], ignoring case (`ILIKE`).
    pub fn iends_with(self, text: impl AsRef<str>) -> Filter<M> {
        self.search(true, "%", text.as_ref(), "")
    }
}

/// `text` with the `LIKE` metacharacters `%`, `_` and `\` escaped by a
/// backslash (PostgreSQL's default `LIKE` escape), so that a pattern built
/// from it matches the text literally:
/// `User::NAME.like(format!("{}%", strata::escape_like(input)))`.
///
/// ```
/// assert_eq!(strata::escape_like("100%_a\\b"), "100\\%\\_a\\\\b");
/// ```
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
