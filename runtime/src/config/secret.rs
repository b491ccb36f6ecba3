//! [`Secret`]: a string that never prints.
//!
//! strata's own secrets (the Redis URL, which may hold a password) are kept
//! in one, so a [`Config`](crate::Config) can be logged as a whole. The
//! PostgreSQL password lives in tokio-postgres's config, whose `Debug`
//! prints it as `_` too.

use std::fmt;

/// A string that never prints: `Debug` and `Display` show `_`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Call only where it is needed (the connect call).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("_")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("_")
    }
}
