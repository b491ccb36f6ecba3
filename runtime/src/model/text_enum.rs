//! Enums stored as text: the trait `#[derive(TextEnum)]` implements, and the
//! encoding its `ToSql`/`FromSql` impls call.
//!
//! Text (`text`, `varchar`, `char(n)`) and PostgreSQL `ENUM` types are both
//! accepted: an enum value's binary form is its label, so one encoding
//! serves both.

use tokio_postgres::types::{Kind, ToSql, Type};

/// A fieldless enum stored as text. Implemented by `#[derive(TextEnum)]`.
pub trait TextEnum: Sized + Send + Sync + 'static {
    /// Every stored name, in declaration order.
    const VARIANTS: &'static [&'static str];

    /// The stored name of this variant.
    fn as_str(&self) -> &'static str;

    /// The variant stored as `text`, if any.
    fn from_text(text: &str) -> Option<Self>;
}

pub(crate) type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// Text types and PostgreSQL enums.
pub fn text_enum_accepts(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    ) || matches!(ty.kind(), Kind::Enum(_))
}

/// Writes the variant's name.
pub fn text_enum_to_sql(
    name: &str,
    ty: &Type,
    out: &mut bytes::BytesMut,
) -> Result<tokio_postgres::types::IsNull, BoxError> {
    if matches!(ty.kind(), Kind::Enum(_)) {
        out.extend_from_slice(name.as_bytes());
        return Ok(tokio_postgres::types::IsNull::No);
    }
    name.to_sql(ty, out)
}

/// Reads a variant by name; an unknown name is an error that names it.
pub fn text_enum_from_sql<E: TextEnum>(_ty: &Type, raw: &[u8]) -> Result<E, BoxError> {
    let text = std::str::from_utf8(raw)?;
    E::from_text(text).ok_or_else(|| {
        format!(
            "`{text}` is not a variant of {} (expected one of {:?})",
            std::any::type_name::<E>(),
            E::VARIANTS
        )
        .into()
    })
}
