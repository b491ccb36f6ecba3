//! Which Rust values a column's operators accept.
//!
//! Each column type names its operand type ([`Comparable`]) and its
//! assignable values ([`Assignable`]); [`Operand`] and [`SetValue`] then
//! accept exactly those, with `&str` for text, and nothing converted: a
//! mismatch is a compile error whose message names both types.

use sea_query::Value;

use crate::model::TextEnum;

/// Rust values a filter can bind. Implemented for every column type that
/// sea-query can carry; `Option<T>` columns compare with their inner `T`.
pub trait FilterValue {
    /// The bound value.
    fn into_value(self) -> Value;
}

/// Calls `$m!` with every Rust type a column can hold (besides `TextEnum`
/// enums, which have blanket impls): the one list of filterable types.
macro_rules! column_types {
    ($m:ident) => {
        $m!(bool, i8, i16, i32, i64, f32, f64, String, Vec<u8>,);
        #[cfg(feature = "json")]
        $m!(serde_json::Value);
        #[cfg(feature = "chrono")]
        $m!(
            chrono::NaiveDate,
            chrono::NaiveTime,
            chrono::NaiveDateTime,
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::FixedOffset>,
        );
        #[cfg(feature = "uuid")]
        $m!(uuid::Uuid);
        #[cfg(feature = "decimal")]
        $m!(rust_decimal::Decimal);
    };
}

macro_rules! filter_value {
    ($($t:ty),* $(,)?) => {$(
        impl FilterValue for $t {
            fn into_value(self) -> Value {
                self.into()
            }
        }
    )*};
}

column_types!(filter_value);

/// `strata::Timestamp` binds as the `timestamptz` sea-query carries
/// through chrono, so it is an operand only with the `chrono` feature.
#[cfg(feature = "chrono")]
impl FilterValue for crate::Timestamp {
    fn into_value(self) -> Value {
        chrono::DateTime::<chrono::Utc>::from(self).into()
    }
}

impl<E: TextEnum> FilterValue for E {
    fn into_value(self) -> Value {
        self.as_str().to_owned().into()
    }
}

/// The type a filter on a column of Rust type `Self` compares against:
/// `T` for `T`, and `T` for `Option<T>`.
pub trait Comparable {
    /// The comparison operand type.
    type Operand: FilterValue;
}

macro_rules! comparable {
    ($($t:ty),* $(,)?) => {$(
        impl Comparable for $t { type Operand = $t; }
        impl Comparable for Option<$t> { type Operand = $t; }
    )*};
}

column_types!(comparable);
#[cfg(feature = "chrono")]
comparable!(crate::Timestamp);

impl<E: TextEnum> Comparable for E {
    type Operand = E;
}
impl<E: TextEnum> Comparable for Option<E> {
    type Operand = E;
}

/// What a filter on a column whose operand type is `T` accepts: a `T`
/// itself, and for text columns also `&str` and `&String`. Nothing is
/// converted: `User::ID.eq(true)` on an `i64` column, or `.eq(1_i32)`, is a
/// compile error rather than a comparison with `1`.
#[diagnostic::on_unimplemented(
    message = "mismatched filter operand: the column holds `{T}`, this is `{Self}`",
    label = "expected `{T}`, found `{Self}`",
    note = "filter operands are not converted, so a comparison never quietly changes meaning: pass a value of type `{T}`"
)]
pub trait Operand<T> {
    /// The bound value.
    fn into_operand(self) -> Value;
}

impl<T: FilterValue> Operand<T> for T {
    fn into_operand(self) -> Value {
        self.into_value()
    }
}

#[diagnostic::do_not_recommend]
impl Operand<String> for &str {
    fn into_operand(self) -> Value {
        self.to_owned().into()
    }
}

#[diagnostic::do_not_recommend]
impl Operand<String> for &String {
    fn into_operand(self) -> Value {
        self.clone().into()
    }
}

/// Values that can be written into a column of Rust type `Self` by a bulk
/// update: the type itself, and for `Option<T>` columns an `Option<T>`.
pub trait Assignable {
    /// The bound value.
    fn into_set_value(self) -> Value;
}

macro_rules! assignable {
    ($($t:ty),* $(,)?) => {$(
        impl Assignable for $t {
            fn into_set_value(self) -> Value { self.into() }
        }
        impl Assignable for Option<$t> {
            fn into_set_value(self) -> Value { self.into() }
        }
    )*};
}

column_types!(assignable);

#[cfg(feature = "chrono")]
impl Assignable for crate::Timestamp {
    fn into_set_value(self) -> Value {
        self.into_value()
    }
}
#[cfg(feature = "chrono")]
impl Assignable for Option<crate::Timestamp> {
    fn into_set_value(self) -> Value {
        self.map(chrono::DateTime::<chrono::Utc>::from).into()
    }
}

impl<E: TextEnum> Assignable for E {
    fn into_set_value(self) -> Value {
        self.as_str().to_owned().into()
    }
}
impl<E: TextEnum> Assignable for Option<E> {
    fn into_set_value(self) -> Value {
        self.map(|e| e.as_str().to_owned()).into()
    }
}

/// What [`Column::set`](super::Column::set) accepts for a column holding `T`: a `T` itself;
/// for text also `&str`; for an `Option<T>` column also a bare `T` (and
/// `None`). Nothing is converted, as for filter operands: `.set(true)` on
/// an `i64` column is a compile error, not a write of `1`.
#[diagnostic::on_unimplemented(
    message = "mismatched value for `set`: the column holds `{T}`, this is `{Self}`",
    label = "expected `{T}`, found `{Self}`",
    note = "values are not converted, so a bulk update never quietly writes something else: pass a value of type `{T}`"
)]
pub trait SetValue<T> {
    /// The column's own value.
    fn into_column_value(self) -> T;
}

impl<T> SetValue<T> for T {
    fn into_column_value(self) -> T {
        self
    }
}

#[diagnostic::do_not_recommend]
impl<T> SetValue<Option<T>> for T {
    fn into_column_value(self) -> Option<T> {
        Some(self)
    }
}

#[diagnostic::do_not_recommend]
impl SetValue<String> for &str {
    fn into_column_value(self) -> String {
        self.to_owned()
    }
}

#[diagnostic::do_not_recommend]
impl SetValue<Option<String>> for &str {
    fn into_column_value(self) -> Option<String> {
        Some(self.to_owned())
    }
}
