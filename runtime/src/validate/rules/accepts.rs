//! Which Rust types each rule accepts: one trait per rule, implemented
//! for exactly those types, with a `#[diagnostic::on_unimplemented]` message
//! that says what to write instead. The derive asserts the trait at the
//! field's span, so a rule on the wrong type is one compile error there.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

#[cfg(feature = "decimal")]
use rust_decimal::Decimal;
use serde_json::Value;

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
    pub(super) fn to_json(self) -> Value {
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

#[cfg(feature = "decimal")]
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
