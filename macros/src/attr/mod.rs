//! The derives' attributes, parsed by hand with `parse_nested_meta`:
//! `#[model(...)]` on a model struct and its fields (here), `#[validate(...)]`
//! rules ([`validate`]), `#[model(...)]` on a `TextEnum` ([`text_enum`]),
//! all from the pieces in [`meta`]. Every key keeps its span; an unknown
//! key, a duplicate or a value of the wrong shape is reported to the
//! [`Ctxt`] and parsing carries on with the next key.

pub(crate) mod derives;
pub(crate) mod meta;
pub(crate) mod relation;
pub(crate) mod text_enum;
pub(crate) mod validate;

use proc_macro2::{Span, TokenStream};
use syn::LitInt;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned as _;

use crate::ctxt::Ctxt;
use meta::{
    Spanned, each_model_key, format_error, parse_flag, parse_name, parse_value, path_text, set,
    skip_value, unknown_key,
};

/// The validation rules attribute.
const VALIDATE: &str = "validate";

// Struct keys.
const TABLE: &str = "table";
const SCHEMA: &str = "schema";
const SOFT_DELETE: &str = "soft_delete";
const CACHE: &str = "cache";
const TTL_SECS: &str = "ttl_secs";
const VALIDATE_WITH: &str = "validate_with";
const TENANT: &str = "tenant";
const RLS: &str = "rls";
/// `audit` on the struct (the model is audited) and `audit(exclude)` /
/// `audit(redact)` on a field (how the audit log keeps it).
const AUDIT: &str = "audit";

// Field keys.
const PRIMARY_KEY: &str = "primary_key";
const GENERATED: &str = "generated";
const COLUMN: &str = "column";
const UNIQUE: &str = "unique";
const DELETED_AT: &str = "deleted_at";
const UPDATED_AT: &str = "updated_at";
const VERSION: &str = "version";
const SKIP: &str = "skip";
/// `skip_deserializing`: with `derive_inputs(serde::Deserialize)`, the
/// field is never read from a request body (the server sets it).
const SKIP_DESERIALIZING: &str = "skip_deserializing";

const STRUCT_KEYS: &[&str] = &[
    TABLE,
    SCHEMA,
    SOFT_DELETE,
    CACHE,
    VALIDATE_WITH,
    TENANT,
    RLS,
    AUDIT,
    derives::DERIVE_INPUTS,
    relation::BELONGS_TO,
    relation::HAS_MANY,
];
const FIELD_KEYS: &[&str] = &[
    PRIMARY_KEY,
    GENERATED,
    COLUMN,
    UNIQUE,
    DELETED_AT,
    UPDATED_AT,
    VERSION,
    SKIP,
    SKIP_DESERIALIZING,
    TENANT,
    AUDIT,
];

/// The tokens of one `#[validate(...)]`, kept as written; [`validate`]
/// parses them into rules.
#[derive(Debug, Clone)]
pub(crate) struct RawValidate {
    /// The `validate` path, for errors about the attribute as a whole.
    pub(crate) span: Span,
    /// Everything between the parentheses.
    pub(crate) tokens: TokenStream,
}

/// `#[model(...)]` and `#[validate(...)]` on the struct.
#[derive(Default)]
pub(crate) struct StructAttrs {
    pub(crate) table: Option<Spanned<String>>,
    pub(crate) schema: Option<Spanned<String>>,
    pub(crate) soft_delete: Option<Span>,
    pub(crate) cache_ttl_secs: Option<Spanned<u64>>,
    pub(crate) validate_with: Option<syn::Path>,
    /// `tenant = dealership_id`: the field that holds the tenant.
    pub(crate) tenant: Option<syn::Ident>,
    /// `rls`: the table has row-level security on the tenant.
    pub(crate) rls: Option<Span>,
    /// `audit`: every write of the model is recorded in the audit log.
    pub(crate) audit: Option<Span>,
    /// `belongs_to(..)` and `has_many(..)`, in the order written.
    pub(crate) relations: Vec<relation::Relation>,
    /// `derive_inputs(..)`: more traits for `NewUser` and `UserPatch`.
    pub(crate) derive_inputs: Option<Vec<syn::Path>>,
    pub(crate) validate: Vec<RawValidate>,
}

/// How the audit log keeps one field: `#[model(audit(exclude))]` leaves it
/// out of the records, `#[model(audit(redact))]` masks its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuditField {
    Exclude,
    Redact,
}

/// `#[model(...)]` and `#[validate(...)]` on one field.
#[derive(Debug, Default)]
pub(crate) struct FieldAttrs {
    pub(crate) primary_key: Option<Span>,
    pub(crate) generated: Option<Span>,
    pub(crate) column: Option<Spanned<String>>,
    pub(crate) unique: Option<Span>,
    pub(crate) deleted_at: Option<Span>,
    pub(crate) updated_at: Option<Span>,
    pub(crate) version: Option<Span>,
    pub(crate) skip: Option<Span>,
    pub(crate) skip_deserializing: Option<Span>,
    pub(crate) tenant: Option<Span>,
    pub(crate) audit: Option<Spanned<AuditField>>,
    pub(crate) validate: Vec<RawValidate>,
}

impl StructAttrs {
    /// Reads the struct's attributes, reporting every mistake to `cx`.
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut out = StructAttrs {
            validate: raw_validates(cx, attrs),
            ..StructAttrs::default()
        };
        each_model_key(cx, attrs, |meta, key, span| {
            let ex = example(key);
            match key {
                // table = "users"
                TABLE => {
                    if let Some(v) = parse_name(cx, &meta, TABLE, &ex)? {
                        set(cx, &mut out.table, TABLE, span, v);
                    }
                }
                // schema = "app"
                SCHEMA => {
                    if let Some(v) = parse_name(cx, &meta, SCHEMA, &ex)? {
                        set(cx, &mut out.schema, SCHEMA, span, v);
                    }
                }
                // soft_delete
                SOFT_DELETE => {
                    let v = parse_flag(cx, &meta, SOFT_DELETE, &ex)?;
                    set(cx, &mut out.soft_delete, SOFT_DELETE, span, v);
                }
                // cache(ttl_secs = 300)
                CACHE => {
                    if let Some(v) = parse_cache(cx, &meta)? {
                        set(cx, &mut out.cache_ttl_secs, CACHE, span, v);
                    }
                }
                // validate_with = path::to_fn
                VALIDATE_WITH => {
                    let missing = format_error("`validate_with` needs a function", &ex);
                    let wrong = format_error("`validate_with` takes the path of a function", &ex);
                    if let Some(v) = parse_value(cx, &meta, &missing, &wrong)? {
                        set(cx, &mut out.validate_with, VALIDATE_WITH, span, v);
                    }
                }
                // tenant = dealership_id
                TENANT => {
                    let missing =
                        format_error("`tenant` needs the field that holds the tenant", &ex);
                    let wrong = format_error("`tenant` takes a field name", &ex);
                    if let Some(v) = parse_value::<syn::Ident>(cx, &meta, &missing, &wrong)? {
                        if out.tenant.is_some() {
                            cx.error(span, "duplicate `tenant`; a model has one tenant column");
                        } else {
                            out.tenant = Some(v);
                        }
                    }
                }
                // rls
                RLS => {
                    let v = parse_flag(cx, &meta, RLS, &ex)?;
                    set(cx, &mut out.rls, RLS, span, v);
                }
                // audit
                AUDIT => {
                    if meta.input.peek(syn::token::Paren) {
                        cx.error(
                            span,
                            "`audit` on the struct takes no options; mark fields with `#[model(audit(exclude))]` or `#[model(audit(redact))]`",
                        );
                        return skip_value(&meta);
                    }
                    let v = parse_flag(cx, &meta, AUDIT, &ex)?;
                    set(cx, &mut out.audit, AUDIT, span, v);
                }
                // derive_inputs(serde::Deserialize, PartialEq)
                derives::DERIVE_INPUTS => {
                    if let Some(v) = derives::parse_derive_inputs(cx, &meta)? {
                        set(cx, &mut out.derive_inputs, derives::DERIVE_INPUTS, span, v);
                    }
                }
                // belongs_to(Customer, key = customer_id) / has_many(Scenario, key = deal_id)
                relation::BELONGS_TO | relation::HAS_MANY => {
                    let kind = if key == relation::BELONGS_TO {
                        relation::RelationKind::BelongsTo
                    } else {
                        relation::RelationKind::HasMany
                    };
                    if let Some(r) = relation::parse_relation(cx, &meta, kind)? {
                        out.relations.push(r);
                    }
                }
                _ => {
                    let message = if FIELD_KEYS.contains(&key) {
                        format!(
                            "`{key}` is a field attribute; put `{ex}` on a field, not on the struct"
                        )
                    } else {
                        unknown_key(key, "attribute", STRUCT_KEYS)
                    };
                    cx.error(span, message);
                    skip_value(&meta)?;
                }
            }
            Ok(())
        });
        out
    }
}

impl FieldAttrs {
    /// Reads one field's attributes, reporting every mistake to `cx`.
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[syn::Attribute]) -> Self {
        let mut out = FieldAttrs {
            validate: raw_validates(cx, attrs),
            ..FieldAttrs::default()
        };
        each_model_key(cx, attrs, |meta, key, span| {
            let ex = example(key);
            let flag = match key {
                // column = "email_address"
                COLUMN => {
                    if let Some(v) = parse_name(cx, &meta, COLUMN, &ex)? {
                        set(cx, &mut out.column, COLUMN, span, v);
                    }
                    return Ok(());
                }
                // audit(exclude) / audit(redact)
                AUDIT => {
                    if let Some(v) = parse_audit_field(cx, &meta)? {
                        set(cx, &mut out.audit, AUDIT, span, v);
                    }
                    return Ok(());
                }
                // primary_key
                PRIMARY_KEY => &mut out.primary_key,
                // generated
                GENERATED => &mut out.generated,
                // unique
                UNIQUE => &mut out.unique,
                // deleted_at
                DELETED_AT => &mut out.deleted_at,
                // updated_at
                UPDATED_AT => &mut out.updated_at,
                // version
                VERSION => &mut out.version,
                // skip
                SKIP => &mut out.skip,
                // skip_deserializing
                SKIP_DESERIALIZING => &mut out.skip_deserializing,
                // tenant
                TENANT => &mut out.tenant,
                _ => {
                    let message = if STRUCT_KEYS.contains(&key) {
                        format!(
                            "`{key}` is a struct attribute; put `{ex}` on the struct, not on a field"
                        )
                    } else {
                        unknown_key(key, "field attribute", FIELD_KEYS)
                    };
                    cx.error(span, message);
                    return skip_value(&meta);
                }
            };
            let v = parse_flag(cx, &meta, key, &ex)?;
            set(cx, flag, key, span, v);
            Ok(())
        });
        out
    }
}

/// How a key is written, for the help line of format errors.
fn example(key: &str) -> String {
    match key {
        TABLE => r#"#[model(table = "users")]"#.to_owned(),
        SCHEMA => r#"#[model(schema = "app")]"#.to_owned(),
        COLUMN => r#"#[model(column = "email_address")]"#.to_owned(),
        CACHE => "#[model(cache(ttl_secs = 300))]".to_owned(),
        VALIDATE_WITH => "#[model(validate_with = path::to_fn)]".to_owned(),
        TENANT => "#[model(tenant = dealership_id)]".to_owned(),
        FIELD_AUDIT => "#[model(audit(redact))]".to_owned(),
        flag => format!("#[model({flag})]"),
    }
}

/// The example key of a field's `audit(..)`.
const FIELD_AUDIT: &str = "audit(..)";

/// A field's `audit(exclude)` or `audit(redact)`: exactly one of the two.
fn parse_audit_field(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
) -> syn::Result<Option<Spanned<AuditField>>> {
    let ex = example(FIELD_AUDIT);
    let span = meta.path.span();
    if !meta.input.peek(syn::token::Paren) {
        cx.error(
            span,
            format_error(
                "`audit` on a field says how the audit log keeps it: `exclude` (left out) or `redact` (masked)",
                &ex,
            ),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let mut out: Option<Spanned<AuditField>> = None;
    let mut any_option = false;
    meta.parse_nested_meta(|inner| {
        any_option = true;
        let value = if inner.path.is_ident("exclude") {
            AuditField::Exclude
        } else if inner.path.is_ident("redact") {
            AuditField::Redact
        } else {
            cx.error(
                inner.path.span(),
                format!(
                    "unknown `audit` option `{}`, expected `exclude` or `redact`",
                    path_text(&inner.path)
                ),
            );
            return skip_value(&inner);
        };
        if out.is_some() {
            cx.error(
                inner.path.span(),
                "give one of `exclude` and `redact`: an excluded field is not in the records at all, so there is nothing to mask",
            );
        } else {
            out = Some(Spanned {
                value,
                span: inner.path.span(),
            });
        }
        Ok(())
    })?;
    // `audit(hide)`: the unknown option was reported above.
    if out.is_none() && !any_option {
        cx.error(
            span,
            format_error("`audit()` needs `exclude` or `redact`", &ex),
        );
    }
    Ok(out)
}

/// `cache(ttl_secs = N)` with `N` a positive integer.
fn parse_cache(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Option<Spanned<u64>>> {
    let ex = example(CACHE);
    if !meta.input.peek(syn::token::Paren) {
        cx.error(
            meta.path.span(),
            format_error("`cache` needs a time to live", &ex),
        );
        skip_value(meta)?;
        return Ok(None);
    }
    let mut ttl: Option<Spanned<u64>> = None;
    let mut any_option = false;
    meta.parse_nested_meta(|inner| {
        any_option = true;
        if !inner.path.is_ident(TTL_SECS) {
            cx.error(
                inner.path.span(),
                format!(
                    "unknown `cache` option `{}`, expected `ttl_secs`",
                    path_text(&inner.path)
                ),
            );
            return skip_value(&inner);
        }
        let missing = format_error("`ttl_secs` needs a number of seconds", &ex);
        let wrong = format_error("`ttl_secs` takes a positive whole number of seconds", &ex);
        let Some(lit) = parse_value::<LitInt>(cx, &inner, &missing, &wrong)? else {
            return Ok(());
        };
        match lit.base10_parse::<u64>().ok().filter(|secs| *secs > 0) {
            Some(value) => {
                let span = inner.path.span();
                set(cx, &mut ttl, TTL_SECS, span, Spanned { value, span });
            }
            None => cx.syn_error(syn::Error::new(lit.span(), wrong)),
        }
        Ok(())
    })?;
    // `cache()`: the mistakes inside the parentheses were reported above.
    if ttl.is_none() && !any_option {
        cx.error(
            meta.path.span(),
            format_error("`cache` needs `ttl_secs`", &ex),
        );
    }
    Ok(ttl)
}

/// Every `#[validate(...)]`: any tokens inside the parentheses, kept for
/// [`validate::parse_rules`].
fn raw_validates(cx: &Ctxt, attrs: &[syn::Attribute]) -> Vec<RawValidate> {
    let validates = attrs.iter().filter(|a| a.path().is_ident(VALIDATE));
    validates
        .filter_map(|attr| match &attr.meta {
            syn::Meta::List(list) => Some(RawValidate {
                span: list.path.span(),
                tokens: list.tokens.clone(),
            }),
            other => {
                cx.error(
                    other.span(),
                    "`validate` takes a list of rules\n\nhelp: the correct format looks like `#[validate(length(max = 100))]`",
                );
                None
            }
        })
        .collect()
}
