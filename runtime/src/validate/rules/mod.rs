//! The field rules of `#[validate(...)]`, one function each. The derive
//! calls them through `::strata::__private::validate`; each checks one value
//! and pushes a [`FieldError`] when it fails.
//!
//! Which types a rule accepts is a trait per rule ([`EmailRule`],
//! [`LengthRule`], [`RangeRule`], ..., in `accepts`), so a rule on the wrong
//! type is a compile error at the field, with a message that says what to
//! write instead.
//! On an `Option<T>` field the derive calls the rule only for `Some`.

mod accepts;

use std::cmp::Ordering;

use regex::Regex;

pub use accepts::*;

use super::{FieldError, ValidationError, ValidationErrors};

/// `#[validate(email)]`: an address of the form `local@domain`, as HTML's
/// `<input type="email">` accepts it, plus length limits (64 for the local
/// part, 254 overall) and non-ASCII letters (internationalized addresses).
pub fn email<T: EmailRule + ?Sized>(errors: &mut ValidationErrors, field: &'static str, value: &T) {
    if !is_email(value.as_str()) {
        errors.push(FieldError::new(
            field,
            "email",
            "must be a valid email address",
        ));
    }
}

/// `#[validate(url)]`: an absolute URL that the `url` crate (the WHATWG URL
/// standard) parses, e.g. `https://example.com/a?b`.
pub fn url<T: UrlRule + ?Sized>(errors: &mut ValidationErrors, field: &'static str, value: &T) {
    if url::Url::parse(value.as_str()).is_err() {
        errors.push(FieldError::new(field, "url", "must be a valid URL"));
    }
}

/// `#[validate(uuid)]`: a UUID in any form `uuid::Uuid::try_parse` takes
/// (hyphenated, simple, braced or `urn:uuid:`). The check is strata's own,
/// so the rule works without the `uuid` feature; a test holds it to the
/// `uuid` crate's parser.
pub fn uuid<T: UuidRule + ?Sized>(errors: &mut ValidationErrors, field: &'static str, value: &T) {
    if !is_uuid(value.as_str()) {
        errors.push(FieldError::new(field, "uuid", "must be a valid UUID"));
    }
}

/// The text forms of a UUID: 32 hex digits, or 8-4-4-4-12 with hyphens,
/// bare, in braces, or after `urn:uuid:`.
fn is_uuid(text: &str) -> bool {
    let hyphenated = |t: &str| {
        t.len() == 36
            && t.bytes().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
    };
    if text.len() > 9 && text.is_char_boundary(9) && text[..9].eq_ignore_ascii_case("urn:uuid:") {
        return hyphenated(&text[9..]);
    }
    if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        return hyphenated(inner);
    }
    (text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())) || hyphenated(text)
}

/// `#[validate(length(min = .., max = ..))]`, both bounds inclusive.
/// Strings count characters, not bytes: `"é"` and `"🦀"` have length 1.
pub fn length<T: LengthRule + ?Sized>(
    errors: &mut ValidationErrors,
    field: &'static str,
    value: &T,
    min: Option<usize>,
    max: Option<usize>,
) {
    let n = value.length();
    if min.is_none_or(|min| n >= min) && max.is_none_or(|max| n <= max) {
        return;
    }
    let unit = |n: usize| if n == 1 { T::UNIT.0 } else { T::UNIT.1 };
    let message = match (min, max) {
        (Some(min), Some(max)) if min == max => format!("must have exactly {min} {}", unit(min)),
        (Some(min), Some(max)) => format!("must have between {min} and {max} {}", unit(max)),
        (Some(min), None) => format!("must have at least {min} {}", unit(min)),
        (None, Some(max)) => format!("must have at most {max} {}", unit(max)),
        (None, None) => return,
    };
    let mut error = FieldError::new(field, "length", message);
    if let Some(min) = min {
        error = error.with_param("min", min);
    }
    if let Some(max) = max {
        error = error.with_param("max", max);
    }
    errors.push(error);
}

/// `#[validate(range(min = .., max = ..))]`, both bounds inclusive. NaN is
/// outside every range.
pub fn range<T: RangeRule + ?Sized>(
    errors: &mut ValidationErrors,
    field: &'static str,
    value: &T,
    min: Option<Limit>,
    max: Option<Limit>,
) {
    let above_min = min.is_none_or(|min| {
        matches!(
            value.compare(min),
            Some(Ordering::Greater | Ordering::Equal)
        )
    });
    let below_max =
        max.is_none_or(|max| matches!(value.compare(max), Some(Ordering::Less | Ordering::Equal)));
    if above_min && below_max {
        return;
    }
    let message = match (min, max) {
        (Some(min), Some(max)) => format!("must be between {min} and {max}"),
        (Some(min), None) => format!("must be at least {min}"),
        (None, Some(max)) => format!("must be at most {max}"),
        (None, None) => return,
    };
    let mut error = FieldError::new(field, "range", message);
    if let Some(min) = min {
        error = error.with_param("min", min.to_json());
    }
    if let Some(max) = max {
        error = error.with_param("max", max.to_json());
    }
    errors.push(error);
}

/// `#[validate(pattern = "..")]`: the regex matches somewhere in the value
/// (anchor it with `^..$` to match the whole value). The derive compiles
/// the regex once per process.
pub fn pattern<T: PatternRule + ?Sized>(
    errors: &mut ValidationErrors,
    field: &'static str,
    value: &T,
    regex: &Regex,
) {
    if !regex.is_match(value.as_str()) {
        errors.push(
            FieldError::new(field, "pattern", "does not have the expected format")
                .with_param("pattern", regex.as_str()),
        );
    }
}

/// `#[validate(non_empty)]`: a string with at least one character, a `Vec`
/// with at least one element.
pub fn non_empty<T: NonEmptyRule + ?Sized>(
    errors: &mut ValidationErrors,
    field: &'static str,
    value: &T,
) {
    if value.is_empty_value() {
        errors.push(FieldError::new(field, "non_empty", "must not be empty"));
    }
}

/// `#[validate(one_of("a", "b"))]`: exactly one of the listed strings.
pub fn one_of<T: OneOfRule + ?Sized>(
    errors: &mut ValidationErrors,
    field: &'static str,
    value: &T,
    allowed: &'static [&'static str],
) {
    if !allowed.contains(&value.as_str()) {
        let list: Vec<String> = allowed.iter().map(|v| format!("\"{v}\"")).collect();
        errors.push(
            FieldError::new(
                field,
                "one_of",
                format!("must be one of {}", list.join(", ")),
            )
            .with_param("values", allowed.to_vec()),
        );
    }
}

/// `#[validate(custom = path::to_fn)]`: the function's verdict, reported
/// on `field`.
pub fn custom(
    errors: &mut ValidationErrors,
    field: &'static str,
    verdict: Result<(), ValidationError>,
) {
    if let Err(error) = verdict {
        errors.push(error.into_field_error(field));
    }
}

/// `#[model(validate_with = path::to_fn)]`: the function's errors, added
/// to the field rules' ones.
pub fn model(errors: &mut ValidationErrors, verdict: Result<(), ValidationErrors>) {
    if let Err(more) = verdict {
        errors.extend(more);
    }
}

/// The check behind [`email`].
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.rsplit_once('@') else {
        return false;
    };
    if value.len() > 254 || local.is_empty() || local.len() > 64 {
        return false;
    }
    let local_ok = local.split('.').all(|atom| {
        !atom.is_empty()
            && atom.chars().all(|c| {
                c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c) || !c.is_ascii()
            })
    });
    let domain_ok = domain.split('.').all(|label| {
        !label.is_empty()
            && label.chars().count() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    });
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "uuid")]
    #[test]
    fn uuid_texts_match_the_uuid_crate() {
        let u = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        let corpus = [
            u.to_owned(),
            u.to_uppercase(),
            u.replace('-', ""),
            format!("{{{u}}}"),
            format!("urn:uuid:{u}"),
            format!("URN:UUID:{u}"),
            format!("{{{}}}", u.replace('-', "")),
            format!("urn:uuid:{}", u.replace('-', "")),
            u[..35].to_owned(),
            format!("{u}0"),
            u.replacen('-', "", 1),
            u.replace('e', "g"),
            format!(" {u}"),
            format!("{{{u}"),
            "6-7e55044-10b1-426f-9247-bb680e5fe0c".to_owned(),
            "67e5504410b1-426f-9247-bb680e5fe0c8-".to_owned(),
            String::new(),
            "é7e55044-10b1-426f-9247-bb680e5fe0c".to_owned(),
        ];
        for text in corpus {
            assert_eq!(
                is_uuid(&text),
                ::uuid::Uuid::try_parse(&text).is_ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn emails() {
        for ok in [
            "a@b",
            "jane.doe+tag@example.com",
            "x@sub.example.co.uk",
            "ünï@exämple.de",
        ] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "@b.com",
            "a@",
            "a@b..com",
            "a..b@c.com",
            ".a@c.com",
            "a b@c.com",
            "a@-b.com",
            "a@b.com.",
            "a@b_c.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[cfg(feature = "decimal")]
    #[test]
    fn decimal_limits_are_exact() {
        let v: rust_decimal::Decimal = "0.1".parse().unwrap();
        assert_eq!(v.compare(Limit::Float(0.1, "0.1")), Some(Ordering::Equal));
        assert_eq!(v.compare(Limit::Int(0)), Some(Ordering::Greater));
        assert_eq!(v.compare(Limit::Int(i128::MAX)), Some(Ordering::Less));
    }

    #[test]
    fn integer_limits_beyond_the_type() {
        assert_eq!(200u8.compare(Limit::Int(300)), Some(Ordering::Less));
        assert_eq!(0u32.compare(Limit::Int(-1)), Some(Ordering::Greater));
        assert_eq!(f64::NAN.compare(Limit::Int(0)), None);
    }
}
