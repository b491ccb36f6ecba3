//! The SQL `#[derive(Model)]` generates, for three representative models.
//! Any change to a statement shows up as a snapshot diff to review
//! (`cargo insta review`); CI runs with `INSTA_UPDATE=no`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use strata::{Model, ModelMeta};

/// Plain: a serial key, no soft delete, no unique column, one nullable.
#[derive(Model, Debug)]
#[allow(dead_code)] // only the metadata is read here
struct OrderLine {
    #[model(primary_key, generated)]
    id: i64,
    order_id: i64,
    sku: String,
    quantity: i32,
    note: Option<String>,
}

/// Soft delete, optimistic locking, `updated_at`, a unique column (the
/// upsert target), a generated column and a skipped field.
#[derive(Model, Debug)]
#[allow(dead_code)] // only the metadata is read here
#[model(soft_delete, cache(ttl_secs = 60))]
struct Account {
    #[model(generated)]
    id: i64,
    #[model(unique)]
    email: String,
    balance: i64,
    #[model(version)]
    version: i32,
    #[model(updated_at)]
    updated_at: DateTime<Utc>,
    #[model(generated)]
    created_at: DateTime<Utc>,
    #[model(deleted_at)]
    deleted_at: Option<DateTime<Utc>>,
    #[model(skip)]
    scratch: Vec<u8>,
}

/// Renamed schema, table and columns; a caller-supplied text key; a raw
/// identifier; a name with a `"` that must be doubled.
#[derive(Model, Debug)]
#[allow(dead_code)] // only the metadata is read here
#[model(schema = "billing", table = "Invoice \"Archive\"")]
struct Invoice {
    #[model(primary_key, column = "invoice_no")]
    number: String,
    #[model(column = "Total Cents")]
    total: i64,
    r#type: String,
    #[model(version)]
    revision: i64,
}

/// A tenant model with row-level security, soft delete, a version and a
/// unique column: the tenant is every statement's last parameter.
#[derive(Model, Debug)]
#[allow(dead_code)] // only the metadata is read here
#[model(tenant = dealership_id, rls, soft_delete)]
struct Deal {
    #[model(primary_key, generated)]
    id: i64,
    dealership_id: i64,
    #[model(unique)]
    number: i32,
    title: String,
    #[model(version)]
    version: i32,
    #[model(deleted_at)]
    deleted_at: Option<DateTime<Utc>>,
}

/// Every statement and the column lists of one model, labelled.
fn render(meta: &ModelMeta) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "name: {}", meta.name);
    let _ = writeln!(out, "table: {}", meta.table);
    let _ = writeln!(out, "schema: {:?}", meta.schema);
    let _ = writeln!(out, "qualified: {}", meta.qualified);
    let _ = writeln!(out, "primary_key: {}", meta.primary_key);
    let _ = writeln!(out, "deleted_at: {:?}", meta.deleted_at);
    let _ = writeln!(out, "version: {:?}", meta.version);
    let _ = writeln!(out, "cache_ttl_secs: {:?}", meta.cache_ttl_secs);
    if let Some(t) = &meta.tenant {
        let _ = writeln!(out, "tenant: {} ({}, rls: {})", t.column, t.sql_type, t.rls);
    }
    let _ = writeln!(out, "insert_columns: {:?}", meta.insert_columns);
    let _ = writeln!(out, "columns:");
    for c in meta.columns {
        let _ = writeln!(
            out,
            "  {} <- {} (nullable: {}, generated: {}, primary_key: {}, unique: {})",
            c.name, c.field, c.nullable, c.generated, c.primary_key, c.unique
        );
    }
    let _ = writeln!(out, "select_list: {}", meta.select_list);
    let s = &meta.sql;
    let statements = [
        ("get", s.get),
        ("get_with_deleted", s.get_with_deleted),
        ("find_many", s.find_many),
        ("insert", s.insert),
        ("copy_in", s.copy_in),
        ("update", s.update),
        ("patch", s.patch),
        ("upsert", s.upsert),
        ("delete", s.delete),
        ("restore", s.restore),
        ("hard_delete", s.hard_delete),
        ("exists", s.exists),
        ("count", s.count),
    ];
    for (label, sql) in statements {
        let _ = writeln!(out, "\n{label}:\n  {sql}");
    }
    let t = &s.patch_shape;
    let _ = writeln!(
        out,
        "\npatch_shape (the pieces of a patch of present fields):"
    );
    let _ = writeln!(out, "  head: {:?}", t.head);
    for set in t.sets {
        let _ = writeln!(out, "  set: {set:?}");
    }
    let _ = writeln!(out, "  stamps: {:?}", t.stamps);
    let _ = writeln!(out, "  key: {:?}", t.key);
    let _ = writeln!(out, "  version: {:?}", t.version);
    if !t.tenant.is_empty() {
        let _ = writeln!(out, "  tenant: {:?}", t.tenant);
    }
    let _ = writeln!(out, "  tail: {:?}", t.tail);
    out
}

#[test]
fn plain_model() {
    insta::assert_snapshot!(render(OrderLine::META));
}

#[test]
fn soft_delete_version_updated_at() {
    insta::assert_snapshot!(render(Account::META));
}

#[test]
fn renamed_schema_table_and_columns() {
    insta::assert_snapshot!(render(Invoice::META));
}

#[test]
fn tenant_model() {
    insta::assert_snapshot!(render(Deal::META));
}

#[test]
fn column_consts_are_named_for_fields() {
    assert_eq!(Account::EMAIL.name(), "email");
    assert_eq!(Invoice::TOTAL.name(), "Total Cents");
    assert_eq!(Invoice::TYPE.name(), "type");
    assert_eq!(Invoice::NUMBER.name(), "invoice_no");
}
