//! Rules that span more than one key or field, one function each. Every
//! rule reports to the [`Ctxt`] and returns, so one derive shows all of its
//! mistakes at once. Rules about a field's *type* are not here: they are
//! trait bounds the expansion puts at the field's span (see
//! `expand/type_checks.rs`). The relation rules are in `relations.rs`, the
//! rules of a field's `#[validate(..)]` in `rules.rs`.

mod relations;
mod rules;

use syn::spanned::Spanned as _;

use crate::ctxt::Ctxt;
use crate::model::{Field, Model, Shape};

/// Runs every rule.
pub(crate) fn check(cx: &Ctxt, model: &Model<'_>) {
    shape(cx, model);
    generics(cx, model);
    if !matches!(model.shape, Shape::Named) {
        // Without named fields the field rules have nothing to say.
        return;
    }
    primary_key(cx, model);
    field_roles(cx, model);
    soft_delete(cx, model);
    at_most_one(cx, model, "version", "a version column", |f| f.version);
    at_most_one(cx, model, "updated_at", "an `updated_at` column", |f| {
        f.updated_at
    });
    at_most_one(cx, model, "tenant", "tenant column", |f| f.tenant);
    tenant(cx, model);
    audit(cx, model);
    duplicate_columns(cx, model);
    relations::relations(cx, model);
    for field in &model.fields {
        rules::check(cx, field);
    }
    skip_deserializing(cx, model);
}

/// `skip_deserializing` only means something when the inputs are read
/// from a body, and only on a field that is in one of them.
fn skip_deserializing(cx: &Ctxt, model: &Model<'_>) {
    let reads_bodies = crate::attr::derives::has(&model.derive_inputs, "Deserialize");
    for field in &model.fields {
        let Some(span) = field.skip_deserializing else {
            continue;
        };
        if !reads_bodies {
            cx.error(
                span,
                "`skip_deserializing` keeps a field out of request bodies, and this model's inputs are not read from any; add `#[model(derive_inputs(serde::Deserialize))]` to the struct, or remove it",
            );
        } else if field.skip.is_some()
            || field.generated.is_some()
            || field.deleted_at.is_some()
            || field.updated_at.is_some()
        {
            cx.error(
                span,
                "this field is not in `NewX` or `XPatch`, so no body can set it; remove `skip_deserializing`",
            );
        }
    }
}

/// A model is a struct with named fields: each field names a column.
/// Tuple and unit structs have no names to map, enums and unions no fixed
/// set of columns.
fn shape(cx: &Ctxt, model: &Model<'_>) {
    let name = model.ident;
    match model.shape {
        Shape::Named => {}
        Shape::Tuple(span) => cx.error(
            span,
            format!(
                "`#[derive(Model)]` needs named fields, and a tuple struct's fields have no column names; write `struct {name} {{ id: i64, .. }}`"
            ),
        ),
        Shape::Unit(span) => cx.error(
            span,
            format!(
                "`#[derive(Model)]` needs named fields, and a unit struct has no columns; write `struct {name} {{ id: i64, .. }}`"
            ),
        ),
        Shape::Enum(span) => cx.error(
            span,
            format!(
                "`#[derive(Model)]` cannot be used on an enum; a model is a struct with one named field per column, e.g. `struct {name} {{ id: i64, .. }}`"
            ),
        ),
        Shape::Union(span) => cx.error(
            span,
            format!(
                "`#[derive(Model)]` cannot be used on a union; a model is a struct with one named field per column, e.g. `struct {name} {{ id: i64, .. }}`"
            ),
        ),
    }
}

/// A model maps to one table with fixed column types, so it takes no type
/// or lifetime parameters (and the runtime needs `Model: 'static`).
fn generics(cx: &Ctxt, model: &Model<'_>) {
    let generics = &model.input.generics;
    if generics.params.is_empty() && generics.where_clause.is_none() {
        return;
    }
    let span = if generics.params.is_empty() {
        generics.where_clause.span()
    } else {
        generics.span()
    };
    cx.error(
        span,
        "`#[derive(Model)]` does not support generic parameters or lifetimes; a model maps to one table, so write concrete, owned field types",
    );
}

/// Exactly one primary key: every statement addresses a row by it, and
/// composite keys are not supported.
fn primary_key(cx: &Ctxt, model: &Model<'_>) {
    let mut explicit = model.fields.iter().filter_map(|f| f.primary_key);
    if explicit.next().is_none() && model.primary_key.is_none() {
        cx.error(
            model.ident.span(),
            format!(
                "`{}` has no primary key; mark one field `#[model(primary_key)]`, or name it `id`",
                model.ident
            ),
        );
    }
    for span in explicit {
        cx.error(
            span,
            "duplicate `#[model(primary_key)]`; a model has exactly one primary key field (composite keys are not supported)",
        );
    }
}

/// A field plays one role. `skip` fields are not columns at all; the
/// primary key, `deleted_at`, `updated_at` and `version` are each written
/// by a different statement part; `generated` contradicts the roles the
/// derive fills itself.
fn field_roles(cx: &Ctxt, model: &Model<'_>) {
    for field in &model.fields {
        if field.skip.is_some() {
            let others = [
                ("primary_key", field.primary_key),
                ("generated", field.generated),
                ("unique", field.unique),
                ("deleted_at", field.deleted_at),
                ("updated_at", field.updated_at),
                ("version", field.version),
                ("tenant", field.tenant),
                ("column", field.column_attr),
            ];
            for (key, span) in others {
                if let Some(span) = span {
                    cx.error(
                        span,
                        format!(
                            "`{key}` cannot be combined with `skip`; a skipped field is not a column, so remove one of them"
                        ),
                    );
                }
            }
            continue;
        }
        let roles = [
            ("primary_key", field.primary_key),
            ("generated", field.generated),
            ("deleted_at", field.deleted_at),
            ("updated_at", field.updated_at),
            ("version", field.version),
        ];
        for (i, (first, first_span)) in roles.iter().enumerate() {
            if first_span.is_none() {
                continue;
            }
            for (second, second_span) in &roles[i + 1..] {
                // `primary_key, generated` is the usual serial key.
                let compatible = *first == "primary_key" && *second == "generated";
                if let (Some(span), false) = (second_span, compatible) {
                    cx.error(
                        *span,
                        format!(
                            "`{second}` cannot be combined with `{first}` on one field; each of them gives the column a different role, so keep one"
                        ),
                    );
                }
            }
        }
    }
}

/// `soft_delete` and `#[model(deleted_at)]` come together: the struct key
/// turns `delete` into an update of that one column.
fn soft_delete(cx: &Ctxt, model: &Model<'_>) {
    let mut marked = model
        .fields
        .iter()
        .filter(|f| f.skip.is_none())
        .filter_map(|f| f.deleted_at);
    let first = marked.next();
    for span in marked {
        cx.error(
            span,
            "duplicate `#[model(deleted_at)]`; a model has at most one soft-delete column",
        );
    }
    match (model.soft_delete, first) {
        (Some(span), None) => cx.error(
            span,
            "`soft_delete` needs a field marked `#[model(deleted_at)]`, e.g. `deleted_at: Option<DateTime<Utc>>`",
        ),
        (None, Some(span)) => cx.error(
            span,
            format!(
                "`#[model(deleted_at)]` only has an effect with soft delete; add `#[model(soft_delete)]` to `{}`",
                model.ident
            ),
        ),
        _ => {}
    }
}

/// At most one column plays `role`: the statements set it in one place.
fn at_most_one(
    cx: &Ctxt,
    model: &Model<'_>,
    key: &str,
    what: &str,
    flag: impl Fn(&Field<'_>) -> Option<proc_macro2::Span>,
) {
    let marked = model
        .fields
        .iter()
        .filter(|f| f.skip.is_none())
        .filter_map(flag);
    for span in marked.skip(1) {
        cx.error(
            span,
            format!("duplicate `#[model({key})]`; a model has at most one {what}"),
        );
    }
}

/// A field's `audit(..)` says how an audited model's log keeps it: only on
/// an audited model, on a stored column, and never on the key every record
/// names.
fn audit(cx: &Ctxt, model: &Model<'_>) {
    for f in &model.fields {
        let Some(a) = &f.audit else { continue };
        let how = match a.value {
            crate::attr::AuditField::Exclude => "exclude",
            crate::attr::AuditField::Redact => "redact",
        };
        if model.audit.is_none() {
            cx.error(
                a.span,
                format!(
                    "`audit({how})` on `{}`, but `{}` is not audited; add `#[model(audit)]` on the struct",
                    f.ident, model.ident
                ),
            );
        } else if f.skip.is_some() {
            cx.error(
                a.span,
                format!(
                    "`{}` is `skip`: it has no column, so the audit log never sees it; remove `audit({how})`",
                    f.ident
                ),
            );
        } else if model.is_primary_key(f) {
            cx.error(
                a.span,
                format!(
                    "`{}` is the primary key, which every audit record names; it cannot be `audit({how})`",
                    f.ident
                ),
            );
        }
    }
}

/// The tenant column names a real, always-present column that no statement
/// writes from a value: it comes from the scope (`db.tenant(id)`), and a
/// row never moves to another tenant. `rls` needs a tenant to filter on.
fn tenant(cx: &Ctxt, model: &Model<'_>) {
    if let Some(name) = &model.tenant_named {
        if model.tenant.is_none() {
            cx.error(
                name.span(),
                format!(
                    "`tenant = {name}` names no column field of `{}`; name the field that holds the tenant, e.g. `#[model(tenant = dealership_id)]`",
                    model.ident
                ),
            );
        }
        for f in model.fields.iter().filter(|f| f.tenant.is_some()) {
            if f.ident != name
                && let Some(span) = f.tenant
            {
                cx.error(
                    span,
                    format!(
                        "`{}` is marked `#[model(tenant)]` but the struct names `tenant = {name}`; a model has one tenant column, so keep one of them",
                        f.ident
                    ),
                );
            }
        }
    }
    if let (Some(span), None) = (model.rls, model.tenant) {
        cx.error(
            span,
            "`rls` scopes rows by the tenant column, and this model has none; add `tenant = <field>`, e.g. `#[model(tenant = dealership_id, rls)]`",
        );
    }
    let Some(field) = model.tenant() else { return };
    let span = field.tenant.unwrap_or_else(|| field.ident.span());
    if model.is_primary_key(field) {
        cx.error(
            span,
            "the tenant column cannot be the primary key; the key names a row within its tenant, e.g. `id: i64` next to `dealership_id: i64`",
        );
    }
    let roles = [
        ("generated", field.generated),
        ("unique", field.unique),
        ("deleted_at", field.deleted_at),
        ("updated_at", field.updated_at),
        ("version", field.version),
    ];
    for (key, role) in roles {
        if let Some(role) = role {
            cx.error(
                role,
                format!(
                    "`{key}` cannot be combined with the tenant column; the tenant comes from the scope (`db.tenant(id)`) and is never written otherwise"
                ),
            );
        }
    }
    if field.option_inner().is_some() {
        cx.error(
            field.ty.span(),
            "the tenant column cannot be an `Option`: a row without a tenant belongs to no scope, so write the plain type, e.g. `dealership_id: i64`",
        );
    }
}

/// Two fields cannot read and write the same column: the statements would
/// name it twice.
fn duplicate_columns(cx: &Ctxt, model: &Model<'_>) {
    let columns: Vec<&Field<'_>> = model.columns().collect();
    for (i, field) in columns.iter().enumerate() {
        if let Some(earlier) = columns[..i].iter().find(|e| e.column == field.column) {
            cx.error(
                field.column_span(),
                format!(
                    "column `{}` is already used by field `{}`; give one of them another name with `#[model(column = \"..\")]`",
                    field.column, earlier.ident
                ),
            );
        }
    }
}
