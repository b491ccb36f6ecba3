//! SQL identifiers: quoting a name for the text of a statement, and reading
//! a quoted one back. The one place the runtime does either, so every path
//! agrees on how `"we""ird"` is written and read.

/// Appends `name` as a quoted identifier: `we"ird` → `"we""ird"`.
pub(crate) fn push_quoted(sql: &mut String, name: &str) {
    sql.push('"');
    for c in name.chars() {
        if c == '"' {
            sql.push('"');
        }
        sql.push(c);
    }
    sql.push('"');
}

/// `name` as a quoted identifier: `we"ird` → `"we""ird"`.
pub(crate) fn quote(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    push_quoted(&mut s, name);
    s
}

/// The name a quoted identifier stands for (`"we""ird"` → `we"ird`);
/// `None` when `text` is not one (unquoted, or the quotes do not close it).
pub(crate) fn unquote(text: &str) -> Option<String> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            // Inside, a quote only appears doubled.
            if chars.next() != Some('"') {
                return None;
            }
        }
        out.push(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{quote, unquote};

    #[test]
    fn quoting_doubles_quotes_and_unquoting_undoes_it() {
        for name in ["users", "we\"ird", "\"", "", "a b", "ünï\"\"x"] {
            let q = quote(name);
            assert_eq!(unquote(&q).as_deref(), Some(name), "{q}");
        }
        assert_eq!(quote("we\"ird"), "\"we\"\"ird\"");
    }

    #[test]
    fn unquoting_refuses_what_is_not_a_quoted_identifier() {
        for text in ["users", "\"open", "close\"", "\"a\"b\"", "\""] {
            assert_eq!(unquote(text), None, "{text}");
        }
    }
}
