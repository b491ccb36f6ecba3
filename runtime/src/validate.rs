//! Validation reports. The derive's `#[validate(...)]` rules fill them; the
//! runtime checks them before any statement is sent.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// One failed rule on one field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// The Rust field name (`email`), or `__model` for model-level rules.
    pub field: Cow<'static, str>,
    /// A stable machine-readable rule code (`length`, `range`, `unique`, ...).
    pub code: Cow<'static, str>,
    /// A human sentence, e.g. "must be at most 100 characters".
    pub message: Cow<'static, str>,
}

impl FieldError {
    /// A new field error.
    pub fn new(
        field: impl Into<Cow<'static, str>>,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Every failed rule of one value, collected at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ValidationErrors {
    /// The failures, in field order.
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

    /// True when nothing failed.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(())` when empty, else `Err(self)`.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The failures for one field.
    pub fn field(&self, name: &str) -> impl Iterator<Item = &FieldError> {
        self.errors.iter().filter(move |e| e.field == name)
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
