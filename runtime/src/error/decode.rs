//! Why a column did not decode, and how `Error::Decode` says it.
//!
//! The derive's decoding knows the Rust type it asked for and the row knows
//! the PostgreSQL type, so a model's decode failure carries both in a
//! [`DecodeFailure`]; `Error::Decode`'s `Display` reads them from its source
//! (through [`DecodeDetail`]) rather than storing the text twice.

use super::Error;

/// Why a column of a model did not decode: the source of [`Error::Decode`]
/// from the derive's decoding, which knows both types. Its own source is
/// the driver error.
#[derive(Debug)]
pub struct DecodeFailure {
    rust_type: &'static str,
    pg_type: Option<tokio_postgres::types::Type>,
    source: tokio_postgres::Error,
}

impl DecodeFailure {
    /// The Rust type the column was read as, short (`Option<i32>`).
    pub fn rust_type(&self) -> String {
        short_type_name(self.rust_type)
    }

    /// The column's PostgreSQL type, when the row described it.
    pub fn pg_type(&self) -> Option<&tokio_postgres::types::Type> {
        self.pg_type.as_ref()
    }

    /// True when the value was NULL and the Rust type is not an `Option`.
    pub fn was_null(&self) -> bool {
        inner_cause(&self.source).is_some_and(|c| c.is::<postgres_types::WasNull>())
    }
}

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(pg) = &self.pg_type {
            write!(f, " (PostgreSQL {pg})")?;
        }
        write!(f, " as {}: ", self.rust_type())?;
        match inner_cause(&self.source) {
            Some(c) if c.is::<postgres_types::WasNull>() => f.write_str("the value is NULL"),
            Some(c) if c.is::<postgres_types::WrongType>() => f.write_str("the types do not match"),
            Some(c) => write!(f, "{c}"),
            None => write!(f, "{}", self.source),
        }
    }
}

impl std::error::Error for DecodeFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The cause tokio-postgres wraps in its "error deserializing column" error.
fn inner_cause(err: &tokio_postgres::Error) -> Option<&(dyn std::error::Error + 'static)> {
    std::error::Error::source(err)
}

/// What `Error::Decode` prints after the column name.
pub(super) struct DecodeDetail<'a>(pub(super) &'a (dyn std::error::Error + Send + Sync + 'static));

impl std::fmt::Display for DecodeDetail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = self.0;
        if let Some(failure) = source.downcast_ref::<DecodeFailure>() {
            return write!(f, "{failure}");
        }
        if let Some(pg) = source.downcast_ref::<tokio_postgres::Error>() {
            return match inner_cause(pg) {
                Some(c) if c.is::<postgres_types::WasNull>() => {
                    f.write_str(": the value is NULL and the Rust type is not an Option")
                }
                // Names both types: "cannot convert between the Rust type
                // `i32` and the Postgres type `text`".
                Some(c) => write!(f, ": {c}"),
                None => write!(f, ": {pg}"),
            };
        }
        write!(f, ": {source}")
    }
}

/// `core::option::Option<alloc::string::String>` → `Option<String>`.
fn short_type_name(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    let mut ident = String::new();
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            ident.push(c);
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            ident.clear();
        } else {
            out.push_str(&ident);
            ident.clear();
            out.push(c);
        }
    }
    out.push_str(&ident);
    out
}

impl Error {
    /// A model column that did not decode as `rust_type`.
    pub(crate) fn decode(
        column: &str,
        rust_type: &'static str,
        pg_type: Option<&tokio_postgres::types::Type>,
        err: tokio_postgres::Error,
    ) -> Error {
        Error::Decode {
            column: column.to_owned(),
            source: Box::new(DecodeFailure {
                rust_type,
                pg_type: pg_type.cloned(),
                source: err,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn short_type_names() {
        assert_eq!(
            short_type_name("core::option::Option<alloc::string::String>"),
            "Option<String>"
        );
        assert_eq!(short_type_name("i32"), "i32");
        assert_eq!(
            short_type_name("chrono::datetime::DateTime<chrono::offset::utc::Utc>"),
            "DateTime<Utc>"
        );
        assert_eq!(short_type_name("&str"), "&str");
        assert_eq!(
            short_type_name("(i64, alloc::vec::Vec<u8>)"),
            "(i64, Vec<u8>)"
        );
    }
}
