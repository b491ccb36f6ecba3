//! Validation reports, and the rules `#[validate(...)]` turns into calls.
//!
//! Every `insert`, `insert_many`, `update`, `upsert` and `patch` validates
//! its input before any statement is sent; a failure is
//! [`Error::Validation`](crate::Error::Validation) with a [`ValidationErrors`]
//! that lists every failing field at once and serializes to JSON for an API
//! response:
//!
//! ```json
//! {"errors": [{"field": "age", "code": "range", "message": "must be at most 150", "params": {"max": 150}}]}
//! ```
//!
//! Apps can run the same checks themselves, e.g. before opening a
//! transaction: `user.validate()`, `new_user.validate()` and
//! `patch.validate()` are in scope with `use strata::prelude::*`.
//!
//! # Model rules: `#[model(validate_with = path::to_fn)]`
//!
//! A cross-field rule gets a borrowed view of the insert's fields,
//! `fn(&UserView<'_>) -> Result<(), ValidationErrors>`, so one function checks
//! both a `NewUser` (`insert`, `insert_many`, `upsert`) and a `User`
//! (`update`, `user.validate()`). A patch holds only some fields, so it
//! runs the field rules of the fields it has and not the model rule; keep
//! an invariant that patches must not break in a `CHECK` constraint too.
//!
//! # Unique columns
//!
//! A unique violation on a column marked `#[model(unique)]` (or the primary
//! key) stays [`Error::UniqueViolation`](crate::Error::UniqueViolation), with
//! the field filled in; [`Error::field_errors`](crate::Error::field_errors)
//! returns it as a `unique` field error, like the rules' own.

pub mod rules;

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

/// One failed rule on one field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// The Rust field name (`email`), or `__model` for model-level rules.
    /// `insert_many` prefixes it with the row index: `[3].email`.
    pub field: Cow<'static, str>,
    /// A stable machine-readable rule code (`length`, `range`, `unique`, ...).
    pub code: Cow<'static, str>,
    /// A human sentence, e.g. "must have at most 100 characters".
    pub message: Cow<'static, str>,
    /// The rule's limits, e.g. `{"min": 1, "max": 100}` for `length`, so an
    /// API can phrase its own message. Empty for rules without limits.
    pub params: Map<String, Value>,
}

impl FieldError {
    /// A new field error without parameters.
    pub fn new(
        field: impl Into<Cow<'static, str>>,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        ValidationError::new(code, message).into_field_error(field)
    }

    /// Adds a parameter (a limit of the rule).
    #[must_use]
    pub fn with_param(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.params.insert(key.to_owned(), value.into());
        self
    }
}

/// What a `#[validate(custom = path::to_fn)]` function returns when the
/// value is rejected; strata adds the field name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationError {
    /// A stable machine-readable code, e.g. `reserved_name`.
    pub code: Cow<'static, str>,
    /// A human sentence, e.g. "is a reserved name".
    pub message: Cow<'static, str>,
    /// Extra details for the API response; often empty.
    pub params: Map<String, Value>,
}

impl ValidationError {
    /// A new error with a code and a message.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        ValidationError {
            code: code.into(),
            message: message.into(),
            params: Map::new(),
        }
    }

    /// Adds a parameter.
    #[must_use]
    pub fn with_param(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.params.insert(key.to_owned(), value.into());
        self
    }

    /// This error reported on `field`.
    pub fn into_field_error(self, field: impl Into<Cow<'static, str>>) -> FieldError {
        FieldError {
            field: field.into(),
            code: self.code,
            message: self.message,
            params: self.params,
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Every failed rule of one value, collected at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ValidationErrors {
    /// The failures, in field order, then the model rule's.
    pub errors: Vec<FieldError>,
}

impl ValidationErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one failure.
    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// Adds every failure of `other`.
    pub fn extend(&mut self, other: ValidationErrors) {
        self.errors.extend(other.errors);
    }

    /// True when nothing failed.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// How many rules failed.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// `Ok(())` when empty, else `Err(self)`.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The failures for one field.
    pub fn field(&self, name: &str) -> impl Iterator<Item = &FieldError> {
        self.errors.iter().filter(move |e| e.field == name)
    }

    /// The failing fields, in order, each once.
    pub fn fields(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for e in &self.errors {
            if !out.contains(&e.field.as_ref()) {
                out.push(&e.field);
            }
        }
        out
    }
}

impl From<FieldError> for ValidationErrors {
    fn from(error: FieldError) -> Self {
        ValidationErrors {
            errors: vec![error],
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{} {}", e.field, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}
