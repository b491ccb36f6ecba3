//! The field rules of `#[validate(...)]`, one function each. The derive
//! calls them through `::strata::__private::validate`; each checks one value
//! and pushes a [`FieldError`] when it fails.
//!
//! Which types a rule accepts is a trait ([`StrRule`]-like traits per rule,
//! [`LengthRule`], [`RangeRule`]), so a rule on the wrong type is a compile
//! error at the field, with a message that says what to write instead.
//! On an `Option<T>` field the derive calls the rule only for `Some`.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

use regex::Regex;
use rust_decimal::Decimal;
use serde_json::Value;

use super::{FieldError, ValidationError, ValidationErrors};

/// The string rules' types: `String`, `str`, `Box<str>`, `Cow<str>`, `Rc<str>`, `Arc<str>`.
macro_rules! impl_str_rule {
    ($($rule:ident),*) => {$(
        impl $rule for String {
            fn as_str(&self) -> &str {
                self
            }
        }
        impl $rule for str {
            fn as_str(&self) -> &str {
                self
            }
        }
        impl $rule for Box<str> {
            fn as_str(&self) -> &str {
                self
            }
        }
        impl $rule for Cow<'_, str> {
            fn as_str(&self) -> &str {
                self
            }
        }
        impl $rule for Rc<str> {
            fn as_str(&self) -> &str {
                self
            }
        }
        impl $rule for Arc<str> {
            fn as_str(&self) -> &str {
                self
            }
        }
    )*};
}

/// Types `#[validate(email)]` accepts.
#[diagnostic::on_unimplemented(
    message = "`#[validate(email)]` checks strings, and `{Self}` is not a string; use it on a `String` (or `Option<String>`) field, or remove it",
    label = "not a string"
)]
pub trait EmailRule {
    /// The text to check.
    fn as_str(&self) -> &str;
}

/// Types `#[validate(url)]` accepts.
#[diagnostic::on_unimplemented(
    message = "`#[validate(url)]` checks strings, and `{Self}` is not a string; use it on a `String` (or `Option<String>`) field, or remove it",
    label = "not a string"
)]
pub trait UrlRule {
    /// The text to check.
    fn as_str(&self) -> &str;
}

/// Types `#[validate(uuid)]` accepts.
#[diagnostic::on_unimplemented(
    message = "`#[validate(uuid)]` checks strings, and `{Self}` is not a string; use it on a `String` field (a `uuid::Uuid` field needs no rule)",
    label = "not a string"
)]
pub trait UuidRule {
    /// The text to check.
    fn as_str(&self) -> &str;
}

/// Types `#[validate(pattern = "..")]` accepts.
#[diagnostic::on_unimplemented(
    message = "`#[validate(pattern)]` checks strings, and `{Self}` is not a string; use it on a `String` (or `Option<String>`) field, or remove it",
    label = "not a string"
)]
pub trait PatternRule {
    /// The text to check.
    fn as_str(&self) -> &str;
}

/// Types `#[validate(one_of(..))]` accepts.
#[diagnostic::on_unimplemented(
    message = "`#[validate(one_of)]` checks strings, and `{Self}` is not a string; use it on a `String` field, or use an enum type for the column",
    label = "not a string"
)]
pub trait OneOfRule {
    /// The text to check.
    fn as_str(&self) -> &str;
}

impl_str_rule!(EmailRule, UrlRule, UuidRule, PatternRule, OneOfRule);

/// Types with a length: strings count characters (Unicode scalar values,
/// not bytes), collections count elements.
#[diagnostic::on_unimplemented(
    message = "`#[validate(length)]` needs a string or a `Vec`, and `{Self}` has no length; for a number's bounds write `range(min = .., max = ..)`",
    label = "has no length"
)]
pub trait LengthRule {
    /// What the length counts, singular and plural: `("character", "characters")`.
    const UNIT: (&'static str, &'static str);
    /// The length.
    fn length(&self) -> usize;
}

/// Types `#[validate(non_empty)]` accepts: the [`LengthRule`] ones.
#[diagnostic::on_unimplemented(
    message = "`#[validate(non_empty)]` needs a string or a `Vec`, and `{Self}` cannot be empty; remove the rule",
    label = "cannot be empty"
)]
pub trait NonEmptyRule {
    /// True when there is nothing in it.
    fn is_empty_value(&self) -> bool;
}

macro_rules! impl_text_length {
    ($($ty:ty),*) => {$(
        impl LengthRule for $ty {
            const UNIT: (&'static str, &'static str) = ("character", "characters");
            fn length(&self) -> usize {
                self.chars().count()
            }
        }
        impl NonEmptyRule for $ty {
            fn is_empty_value(&self) -> bool {
                self.is_empty()
            }
        }
    )*};
}
impl_text_length!(String, str, Box<str>, Cow<'_, str>);

impl<T> LengthRule for Vec<T> {
    const UNIT: (&'static str, &'static str) = ("item", "items");
    fn length(&self) -> usize {
        self.len()
    }
}
impl<T> LengthRule for [T] {
    const UNIT: (&'static str, &'static str) = ("item", "items");
    fn length(&self) -> usize {
        self.len()
    }
}
impl<T> NonEmptyRule for Vec<T> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}
impl<T> NonEmptyRule for [T] {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

/// A bound of `#[validate(range(..))]` as written in the attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// A whole number, e.g. `150` or `-3`.
    Int(i128),
    /// A number with a fraction or exponent, with its source text so
    /// decimals compare exactly (`0.1` is not rounded through `f64`).
    Float(f64, &'static str),
}

impl Limit {
    /// The limit as a JSON number (a string when it does not fit one).
    fn to_json(self) -> Value {
        match self {
            Limit::Int(v) => match i64::try_from(v) {
                Ok(v) => Value::from(v),
                Err(_) => Value::from(v.to_string()),
            },
            Limit::Float(v, text) => {
                serde_json::Number::from_f64(v).map_or_else(|| Value::from(text), Value::Number)
            }
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Int(v) => write!(f, "{v}"),
            Limit::Float(_, text) => f.write_str(text),
        }
    }
}

/// Numbers `#[validate(range(..))]` accepts: every integer, `f32`, `f64`
/// and `rust_decimal::Decimal`.
#[diagnostic::on_unimplemented(
    message = "`#[validate(range)]` needs a number, and `{Self}` is not one; for a string's or a `Vec`'s size write `length(min = .., max = ..)`",
    label = "not a number"
)]
pub trait RangeRule {
    /// How the value compares with the limit; `None` when it cannot be
    /// compared (NaN), which fails the rule.
    fn compare(&self, limit: Limit) -> Option<Ordering>;
}

macro_rules! impl_range_int {
    ($($ty:ty),*) => {$(
        impl RangeRule for $ty {
            fn compare(&self, limit: Limit) -> Option<Ordering> {
                match limit {
                    // Only `u128` above `i128::MAX` does not fit, and it
                    // is above every limit.
                    Limit::Int(limit) => Some(
                        i128::try_from(*self).map_or(Ordering::Greater, |v| v.cmp(&limit)),
                    ),
                    #[allow(clippy::cast_precision_loss, reason = "compared with a float limit")]
                    Limit::Float(limit, _) => (*self as f64).partial_cmp(&limit),
                }
            }
        }
    )*};
}
impl_range_int!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

macro_rules! impl_range_float {
    ($($ty:ty),*) => {$(
        impl RangeRule for $ty {
            fn compare(&self, limit: Limit) -> Option<Ordering> {
                let limit = match limit {
                    #[allow(clippy::cast_precision_loss, reason = "compared as a float")]
                    Limit::Int(limit) => limit as f64,
                    Limit::Float(limit, _) => limit,
                };
                f64::from(*self).partial_cmp(&limit)
            }
        }
    )*};
}
impl_range_float!(f32, f64);

impl RangeRule for Decimal {
    fn compare(&self, limit: Limit) -> Option<Ordering> {
        let limit = match limit {
            Limit::Int(limit) => match Decimal::try_from_i128_with_scale(limit, 0) {
                Ok(limit) => limit,
                // Beyond every decimal.
                Err(_) if limit > 0 => return Some(Ordering::Less),
                Err(_) => return Some(Ordering::Greater),
            },
            Limit::Float(float, text) => {
                match text
                    .parse::<Decimal>()
                    .or_else(|_| Decimal::from_scientific(text))
                {
                    Ok(limit) => limit,
                    Err(_) => return Decimal::try_from(float).ok().map(|l| self.cmp(&l)),
                }
            }
        };
        Some(self.cmp(&limit))
    }
}

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
/// (hyphenated, simple, braced or `urn:uuid:`).
pub fn uuid<T: UuidRule + ?Sized>(errors: &mut ValidationErrors, field: &'static str, value: &T) {
    if uuid::Uuid::try_parse(value.as_str()).is_err() {
        errors.push(FieldError::new(field, "uuid", "must be a valid UUID"));
    }
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

    #[test]
    fn decimal_limits_are_exact() {
        let v: Decimal = "0.1".parse().unwrap();
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
