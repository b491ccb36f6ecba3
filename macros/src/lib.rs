//! `#[derive(Model)]` and `#[strata::test]` for strata. Use them through the
//! `strata` crate, which re-exports them; the generated code only works with
//! that crate.

mod attr;
mod case;
mod check;
mod ctxt;
mod expand;
mod from_row;
mod model;
mod test_attr;
mod text_enum;

use proc_macro::TokenStream;

/// Derives `strata::Model` for a struct with named fields, plus its insert
/// input `NewX`, its partial update `XPatch` and one typed column const
/// per column (`X::EMAIL`).
///
/// `NewX` has every column that is not `generated`, `deleted_at`,
/// `updated_at` or `version`. `XPatch` (`Default`) has an `Option` of every
/// column `update` writes (all of `NewX` but the primary key; `Some(None)`
/// writes NULL to a nullable column), plus the expected version when the
/// model has one. Both get the struct's visibility, as do their fields and
/// the column consts.
///
/// ```ignore
/// use strata::prelude::*;
///
/// #[derive(Model, Debug, Clone)]
/// #[model(table = "users", soft_delete, cache(ttl_secs = 300))]
/// pub struct User {
///     #[model(primary_key, generated)]
///     pub id: i64,
///     #[model(unique)]
///     pub email: String,
///     pub name: String,
///     #[model(generated)]
///     pub created_at: chrono::DateTime<chrono::Utc>,
///     #[model(deleted_at)]
///     pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
/// }
/// ```
///
/// # Struct attributes: `#[model(...)]`
///
/// - `table = "users"`: the table. Default: the snake_case plural of the
///   struct name, an acronym being one word (`User` → `users`, `OrderLine`
///   → `order_lines`, `Category` → `categories`, `HTTPRequest` →
///   `http_requests`, `UserV2` → `user_v2s`).
/// - `schema = "app"`: the schema; statements then name `"app"."users"`.
/// - `soft_delete`: `delete` sets the `deleted_at` column instead of
///   removing the row, and reads hide such rows. Needs one field marked
///   `#[model(deleted_at)]`.
/// - `cache(ttl_secs = 300)`: cached reads keep a row this many seconds.
/// - `validate_with = path::to_fn`: a cross-field rule,
///   `fn(&XView<'_>) -> Result<(), ValidationErrors>`. `XView` (generated
///   with this key) borrows every field of `NewX`, so one function checks
///   a `NewX` (insert, upsert) and an `X` (update, `validate()`); patches
///   run only their fields' rules.
/// - `belongs_to(Customer, key = customer_id)`: this model's field
///   `customer_id` holds `Customer`'s primary key (`Option<K>` for an
///   optional relation). Generates `X::CUSTOMER: BelongsTo<X, Customer>`
///   for `X::query().include(X::CUSTOMER)`, which pairs each row with
///   `Option<Customer>`. `name = "OWNER"` names the const instead.
/// - `has_many(Scenario, key = deal_id)`: `Scenario`'s field `deal_id`
///   holds this model's primary key. Generates `X::SCENARIOS: HasMany<X,
///   Scenario>` (the plural of the target; `name = ".."` to choose), which
///   pairs each row with `Vec<Scenario>`. Both nest
///   (`X::SCENARIOS.include(Scenario::TASKS)`) and combine in a tuple.
///
/// # Field attributes: `#[model(...)]`
///
/// - `primary_key`: the key every by-key statement uses. Default: the
///   field named `id`. Exactly one; composite keys are not supported.
/// - `generated`: the database fills it (serial, identity, default); left
///   out of `NewX` and of inserts, read back with `RETURNING`.
/// - `column = "email_address"`: the column name. Default: the field name.
/// - `unique`: the column has a unique constraint; `upsert` uses the unique
///   columns as its conflict target (else the primary key).
/// - `deleted_at`: the soft-delete timestamp, `Option<DateTime<Utc>>` or
///   `Option<NaiveDateTime>`. Needs `soft_delete` on the struct.
/// - `updated_at`: set to `now()` by `update`, `patch` and `upsert`; the
///   database fills it on insert.
/// - `version`: an `i16`, `i32` or `i64` optimistic-lock counter. `update`
///   only applies to the version it read and increments it; `XPatch` takes
///   the expected version as an `Option`. The database fills it on insert.
/// - `skip`: not a column; set to `Default::default()` when a row is read.
///
/// # Field rules: `#[validate(...)]`
///
/// - `email`, `url`, `uuid`: the string parses as one.
/// - `length(min = 1, max = 100)`: characters of a string (not bytes),
///   elements of a `Vec`; inclusive.
/// - `range(min = 0, max = 1.5)`: any integer, float or `Decimal`; inclusive.
/// - `pattern = "^[a-z]+$"`: a regex, checked when the derive runs and
///   compiled once per process.
/// - `non_empty`, `one_of("a", "b")`, `custom = path::to_fn` (a
///   `fn(&T) -> Result<(), ValidationError>`).
///
/// On an `Option<T>` field a rule checks the value only when it is `Some`.
/// A rule on a type it does not apply to is a compile error at the field.
///
/// # Errors
///
/// Every mistake is reported in one build, at the attribute or field that
/// causes it: unknown or duplicate keys, a missing or second primary key,
/// `soft_delete` without `deleted_at` (and the reverse), two fields on one
/// column, generics, tuple structs and enums. Field types are checked by
/// trait bounds: every column type must be storable in PostgreSQL (and not
/// an array of arrays such as `Vec<Vec<i32>>`), `deleted_at` a nullable
/// timestamp, `version` an integer, `skip` fields `Default`, each
/// validation rule's field a type the rule applies to. An unsupported
/// type is one error, however often the model is used.
///
/// Next to its errors the derive still emits `NewX`, `XPatch`, the column
/// consts, the type checks and stub impls, so the user's code that uses
/// the model adds no errors of its own.
///
/// With `soft_delete` the derive also implements `strata::SoftDelete`,
/// which `restore` needs: on a model without soft delete, `restore` is a
/// compile error.
#[proc_macro_derive(Model, attributes(model, validate))]
pub fn derive_model(input: TokenStream) -> TokenStream {
    derive_model_inner(input.into()).into()
}

/// The derive on `proc_macro2` tokens, so unit tests can run it. Private: a
/// proc-macro crate can only export macros.
fn derive_model_inner(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    parsed(input, |input| pipeline::<model::Model<'_>>(input))
}

/// `derive` on the parsed input, or the parse error.
fn parsed(
    input: proc_macro2::TokenStream,
    derive: impl FnOnce(&syn::DeriveInput) -> proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    match syn::parse2::<syn::DeriveInput>(input) {
        Ok(input) => derive(&input),
        Err(err) => err.to_compile_error(),
    }
}

/// What one derive supplies to [`pipeline`]: its checked view of the input
/// and the two expansions. `Model` and `TextEnum` both go through it.
trait Derive<'a>: Sized {
    /// Reads the input and its attributes; mistakes go to `cx`, and
    /// reading carries on with defaults.
    fn from_ast(cx: &ctxt::Ctxt, input: &'a syn::DeriveInput) -> Self;

    /// The rules across keys, fields and variants; mistakes go to `cx`.
    fn check(&self, cx: &ctxt::Ctxt);

    /// The code for an input without mistakes.
    fn expand(&self) -> proc_macro2::TokenStream;

    /// What is emitted next to the errors: the same nameable items and
    /// stub impls, so the user's code that uses the type adds no errors
    /// of its own (thiserror's `fallback.rs`, serde's dummy impls).
    fn fallback(&self) -> proc_macro2::TokenStream;
}

impl<'a> Derive<'a> for model::Model<'a> {
    fn from_ast(cx: &ctxt::Ctxt, input: &'a syn::DeriveInput) -> Self {
        model::Model::from_ast(cx, input)
    }

    fn check(&self, cx: &ctxt::Ctxt) {
        check::check(cx, self);
    }

    fn expand(&self) -> proc_macro2::TokenStream {
        expand::expand(self)
    }

    fn fallback(&self) -> proc_macro2::TokenStream {
        expand::fallback(self)
    }
}

impl<'a> Derive<'a> for text_enum::TextEnum<'a> {
    fn from_ast(cx: &ctxt::Ctxt, input: &'a syn::DeriveInput) -> Self {
        text_enum::TextEnum::from_ast(cx, input)
    }

    fn check(&self, cx: &ctxt::Ctxt) {
        text_enum::check::check(cx, self);
    }

    fn expand(&self) -> proc_macro2::TokenStream {
        text_enum::expand::expand(self)
    }

    fn fallback(&self) -> proc_macro2::TokenStream {
        text_enum::expand::fallback(self)
    }
}

/// Parse → check → expand. Every error found on the way comes out
/// together, followed by the fallback expansion, so one mistake is one
/// error of the build.
fn pipeline<'a, D: Derive<'a>>(input: &'a syn::DeriveInput) -> proc_macro2::TokenStream {
    let cx = ctxt::Ctxt::default();
    let derived = D::from_ast(&cx, input);
    derived.check(&cx);
    match cx.check() {
        Ok(()) => derived.expand(),
        Err(errors) => {
            let mut tokens = errors.to_compile_error();
            tokens.extend(derived.fallback());
            tokens
        }
    }
}

/// Derives `strata::TextEnum` for a fieldless enum, so it can be a model
/// column stored as `text` (or in a PostgreSQL `ENUM` type) and compared in
/// typed filters (`Order::STATUS.eq(Status::Paid)`).
///
/// Variants are stored in snake_case by default (`PaidInFull` →
/// `paid_in_full`, `HTTPError` → `http_error`), split into words as table
/// names are; `#[model(rename_all =
/// "SCREAMING_SNAKE_CASE")]` on the enum (also `kebab-case`, `lowercase`,
/// `verbatim`) or `#[model(rename = "...")]` on a variant choose otherwise.
/// Reading text that names no variant is a decode error naming the value.
///
/// ```ignore
/// #[derive(strata::TextEnum, Debug, Clone, Copy, PartialEq)]
/// pub enum Status {
///     Pending,
///     Paid,
///     #[model(rename = "refunded_in_full")]
///     Refunded,
/// }
/// ```
#[proc_macro_derive(TextEnum, attributes(model))]
pub fn derive_text_enum(input: TokenStream) -> TokenStream {
    parsed(input.into(), |input| {
        pipeline::<text_enum::TextEnum<'_>>(input)
    })
    .into()
}

/// Derives `strata::FromRow` for a struct with named fields: it decodes the
/// rows of any statement (`db.query_as::<T>(sql, params)`) by column name,
/// whatever their order; columns it does not read are ignored. Column
/// positions are looked up once per statement, not per row.
///
/// ```ignore
/// #[derive(strata::FromRow)]
/// struct Author {
///     id: i64,
///     #[from_row(rename = "display_name")]
///     name: String,
///     bio: Option<String>,
///     #[from_row(default)]
///     posts: i64,
/// }
/// ```
///
/// # Field attributes: `#[from_row(...)]`
///
/// - `rename = "col"`: the column. Default: `#[model(column)]` on a struct
///   that also derives `Model`, else the field name.
/// - `default`: a column the statement does not return reads as
///   `Default::default()` (a NULL is still an error unless the field is an
///   `Option`).
/// - `skip`: never read; `Default::default()`. `#[model(skip)]` fields are
///   skipped too.
/// - `flatten`: a field whose type is itself `FromRow`, read from the same
///   row.
///
/// # Errors
///
/// At the offending span: enums, tuple and unit structs, lifetime
/// parameters, unknown or duplicate keys, `rename` on a skipped or
/// flattened field, `default` with `skip` or `flatten`, two fields reading
/// one column. A field type that cannot be read from a column (no
/// `FromSql`), or a flattened type that is not `FromRow`, is reported at
/// the field's type. Type parameters get the bound their fields need.
#[proc_macro_derive(FromRow, attributes(from_row))]
pub fn derive_from_row(input: TokenStream) -> TokenStream {
    parsed(input.into(), |input| {
        pipeline::<from_row::FromRow<'_>>(input)
    })
    .into()
}

/// Turns an `async fn` taking the database into a test against a fresh
/// PostgreSQL schema: `strata::test`, with strata's cargo feature
/// `testing`. The function takes `db: strata::Db` (the handle) or
/// `db: strata::testing::TestDb` (the handle, the schema's name and the
/// config), and returns `()` or any type a `#[test]` may return, such as
/// `Result<(), E>` with `E: Debug` (so `?` works).
///
/// ```ignore
/// use strata::prelude::*;
///
/// #[strata::test(migrations = "migrations")]
/// async fn inserts_a_user(db: Db) -> strata::Result<()> {
///     db.execute("INSERT INTO users (email) VALUES ('a@example.com')", &[]).await?;
///     Ok(())
/// }
/// ```
///
/// Each test runs on a current-thread tokio runtime of its own, on a new
/// schema (`strata::testing::TestDb::new`), which is dropped when the test
/// ends, passed or failed. The test's crate needs no `tokio` dependency.
///
/// # Options
///
/// - `migrations = "dir"`: applies the migrations in `dir` (relative to the
///   crate's `Cargo.toml`, as `strata::embed_migrations!` reads it: compiled
///   into the test, checked when it builds) before the body runs.
/// - `redis`: the handle gets the Redis cache tier: `REDIS_URL`, or
///   `redis://127.0.0.1:6379` (`strata::testing::with_redis`).
///
/// # Errors
///
/// At the offending span: a function that is not `async`, is generic,
/// `const` or `unsafe`, takes no argument, `self` or more than one, or also
/// carries `#[test]` (or `#[tokio::test]`); an unknown or duplicate option;
/// `migrations` without a string literal; `redis` with a value. An argument
/// of another type than `Db` or `TestDb` is reported at the type, and a
/// migrations folder that does not hold migrations at the folder's name.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    test_attr::expand(args.into(), item.into()).into()
}

#[cfg(test)]
mod tests;
