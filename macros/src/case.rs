//! Every name the derives make from another name: table names, column
//! consts and `TextEnum`'s stored text. One place, so `HTTPRequest` splits
//! into words the same way everywhere; the splitting is `heck`'s (an
//! acronym is one word, a digit stays with the word before it).

use heck::{ToKebabCase as _, ToShoutySnakeCase as _, ToSnakeCase as _};

/// `User` → `users`, `OrderLine` → `order_lines`, `HTTPRequest` →
/// `http_requests`, `UserV2` → `user_v2s`, `Category` → `categories`: the
/// snake_case plural, as the README's attribute table says.
pub(crate) fn table_name(struct_name: &str) -> String {
    pluralize(&struct_name.to_snake_case())
}

/// `created_at` → `CREATED_AT`, `createdAt` → `CREATED_AT`: a column const.
pub(crate) fn const_name(field_name: &str) -> String {
    field_name.to_shouty_snake_case()
}

/// How `TextEnum` variant names become stored text (`rename_all`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    /// `PaidInFull` → `paid_in_full`, the default.
    Snake,
    /// `PaidInFull` → `PAID_IN_FULL`.
    ScreamingSnake,
    /// `PaidInFull` → `paid-in-full`.
    Kebab,
    /// `PaidInFull` → `paidinfull`.
    Lower,
    /// `PaidInFull` → `PaidInFull`.
    Verbatim,
}

impl Case {
    /// Every `rename_all` value, as the user writes it.
    pub(crate) const NAMES: &[(&str, Case)] = &[
        ("snake_case", Case::Snake),
        ("SCREAMING_SNAKE_CASE", Case::ScreamingSnake),
        ("kebab-case", Case::Kebab),
        ("lowercase", Case::Lower),
        ("verbatim", Case::Verbatim),
    ];

    /// The case a `rename_all` value names.
    pub(crate) fn from_name(name: &str) -> Option<Case> {
        Case::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, case)| *case)
    }

    /// `ident` in this case.
    pub(crate) fn apply(self, ident: &str) -> String {
        match self {
            Case::Snake => ident.to_snake_case(),
            Case::ScreamingSnake => ident.to_shouty_snake_case(),
            Case::Kebab => ident.to_kebab_case(),
            Case::Lower => ident.to_lowercase(),
            Case::Verbatim => ident.to_owned(),
        }
    }

    /// `ident` as the first releases spelled it, when that differs from
    /// [`Case::apply`]: they put a separator before every capital
    /// (`HTTPError` → `h_t_t_p_error`), where heck keeps acronyms whole
    /// (`http_error`). Decoding accepts this spelling too, so rows written
    /// before the change still read; see the README's "Upgrading".
    pub(crate) fn apply_legacy(self, ident: &str) -> Option<String> {
        let mut snake = String::new();
        for (i, c) in ident.chars().enumerate() {
            if c.is_uppercase() && i > 0 {
                snake.push('_');
            }
            snake.extend(c.to_lowercase());
        }
        let legacy = match self {
            Case::Snake => snake,
            Case::ScreamingSnake => snake.to_uppercase(),
            Case::Kebab => snake.replace('_', "-"),
            Case::Lower | Case::Verbatim => return None,
        };
        (legacy != self.apply(ident)).then_some(legacy)
    }
}

/// English plural of a snake_case word, enough for table names.
fn pluralize(word: &str) -> String {
    let vowel_before_y = word
        .strip_suffix('y')
        .and_then(|rest| rest.chars().last())
        .is_some_and(|c| "aeiou".contains(c));
    if let Some(stem) = word.strip_suffix('y')
        && !vowel_before_y
        && !stem.is_empty()
    {
        return format!("{stem}ies");
    }
    if ["s", "x", "z", "ch", "sh"]
        .iter()
        .any(|end| word.ends_with(end))
    {
        return format!("{word}es");
    }
    format!("{word}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's attribute table and the derive's docs promise these.
    #[test]
    fn table_names() {
        let cases = [
            ("User", "users"),
            ("OrderLine", "order_lines"),
            ("Category", "categories"),
            ("Address", "addresses"),
            ("Day", "days"),
            ("Box", "boxes"),
            ("Match", "matches"),
            ("HTTPRequest", "http_requests"),
            ("HTTPLog", "http_logs"),
            ("UserV2", "user_v2s"),
            ("ABC", "abcs"),
            ("Item2Tag", "item2_tags"),
        ];
        for (name, table) in cases {
            assert_eq!(table_name(name), table, "table of `{name}`");
        }
    }

    #[test]
    fn const_names() {
        assert_eq!(const_name("created_at"), "CREATED_AT");
        assert_eq!(const_name("createdAt"), "CREATED_AT");
        assert_eq!(const_name("id"), "ID");
        assert_eq!(const_name("v2_key"), "V2_KEY");
    }

    /// `TextEnum` splits words as table names do: an acronym is one word.
    #[test]
    fn text_enum_cases() {
        let name = |case: Case| case.apply("HTTPRequestV2");
        assert_eq!(name(Case::Snake), "http_request_v2");
        assert_eq!(name(Case::ScreamingSnake), "HTTP_REQUEST_V2");
        assert_eq!(name(Case::Kebab), "http-request-v2");
        assert_eq!(name(Case::Lower), "httprequestv2");
        assert_eq!(name(Case::Verbatim), "HTTPRequestV2");
        assert_eq!(Case::Snake.apply("PaidInFull"), "paid_in_full");
        assert_eq!(
            table_name("HTTPRequest"),
            format!("{}s", Case::Snake.apply("HTTPRequest"))
        );
    }

    /// The old splitter's spelling, offered only where it differs.
    #[test]
    fn legacy_spellings() {
        assert_eq!(
            Case::Snake.apply_legacy("HTTPError").as_deref(),
            Some("h_t_t_p_error")
        );
        assert_eq!(
            Case::ScreamingSnake.apply_legacy("HTTPError").as_deref(),
            Some("H_T_T_P_ERROR")
        );
        assert_eq!(
            Case::Kebab.apply_legacy("HTTPError").as_deref(),
            Some("h-t-t-p-error")
        );
        assert_eq!(Case::Snake.apply_legacy("PaidInFull"), None);
        assert_eq!(Case::Lower.apply_legacy("HTTPError"), None);
        assert_eq!(Case::Verbatim.apply_legacy("HTTPError"), None);
    }

    #[test]
    fn every_case_name_parses() {
        for (name, case) in Case::NAMES {
            assert_eq!(Case::from_name(name), Some(*case));
        }
        assert_eq!(Case::from_name("camelCase"), None);
    }
}
