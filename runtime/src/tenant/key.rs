//! The types a tenant column may have, and a tenant value as the scope
//! stage carries it: bound as a parameter, set with `set_config`, in
//! query-builder filters and in cache keys.

use tokio_postgres::types::{FromSql, ToSql};

mod sealed {
    /// What the query builder needs of a tenant value; not public API.
    pub trait Sealed {
        fn sea_value(&self) -> sea_query::Value;
    }
}

/// A type a tenant column may have: `i16`, `i32`, `i64`, `String` or
/// `uuid::Uuid`. Sealed: the tenant's text form goes into `set_config` and
/// cache keys, so only types whose text is exact are accepted.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a tenant column's type",
    label = "a tenant is an `i16`, `i32`, `i64`, `String` or `uuid::Uuid`",
    note = "use the type of the column that holds the tenant, e.g. `dealership_id: i64`"
)]
pub trait TenantKey:
    sealed::Sealed
    + ToSql
    + for<'a> FromSql<'a>
    + Clone
    + std::fmt::Display
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// The column's SQL type, for the policy's cast of `app.tenant_id`.
    const SQL_TYPE: &'static str;
}

macro_rules! tenant_keys {
    ($($ty:ty => $sql:literal),* $(,)?) => {$(
        impl sealed::Sealed for $ty {
            fn sea_value(&self) -> sea_query::Value {
                self.clone().into()
            }
        }
        impl TenantKey for $ty {
            const SQL_TYPE: &'static str = $sql;
        }
    )*};
}

tenant_keys! {
    i16 => "int2",
    i32 => "int4",
    i64 => "int8",
    String => "text",
}
#[cfg(feature = "uuid")]
tenant_keys! { uuid::Uuid => "uuid" }

/// One tenant, as a scoped handle holds it (shared by its clones and
/// transactions): the value and the texts built from it once.
#[derive(Debug)]
pub(crate) struct Tenant<T> {
    pub(crate) value: T,
    /// `value` as `set_config` and cache keys take it.
    pub(crate) text: String,
    /// `; SELECT set_config('app.tenant_id', '<text>', true)`, appended to
    /// a `BEGIN`.
    pub(crate) set_local: String,
}

impl<T: TenantKey> Tenant<T> {
    pub(crate) fn new(value: T) -> Tenant<T> {
        let text = value.to_string();
        // A literal, since `BEGIN` and it go out as one simple query: quotes
        // doubled (`standard_conforming_strings` is on since PostgreSQL 9.1).
        let set_local = format!(
            "; SELECT set_config('{}', '{}', true)",
            super::TENANT_SETTING,
            text.replace('\'', "''")
        );
        Tenant {
            value,
            text,
            set_local,
        }
    }

    pub(crate) fn sea_value(&self) -> sea_query::Value {
        sealed::Sealed::sea_value(&self.value)
    }
}
