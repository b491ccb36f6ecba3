//! The audit log's SQL: the table, the row trigger's function, and the
//! trigger a model's table gets.

use crate::error::NO_ACTOR_SQLSTATE;
use crate::model::AuditMeta;
use crate::model::ModelMeta;

/// The audit table, unqualified: created in the installing session's
/// current schema, whose name the trigger function's body carries, so it
/// writes there whatever the writer's `search_path`.
pub const TABLE: &str = "strata_audit";

pub use crate::config::audit::ACTOR_SETTING;
use crate::config::audit::{POLICY_SETTING, SYSTEM_ACTOR_SETTING};

/// The text a redacted field's value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// The audit table, its indexes and the trigger function, one statement
/// each, idempotent: for a migration (or [`crate::Db::install_audit`]).
pub fn install_statements() -> Vec<String> {
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (\n    \
             id bigserial PRIMARY KEY,\n    \
             at timestamptz NOT NULL DEFAULT now(),\n    \
             txid bigint NOT NULL DEFAULT txid_current(),\n    \
             table_name text NOT NULL,\n    \
             row_key text NOT NULL,\n    \
             op text NOT NULL,\n    \
             actor text,\n    \
             tenant text,\n    \
             before jsonb,\n    \
             after jsonb\n)"
        ),
        format!("CREATE INDEX IF NOT EXISTS {TABLE}_row ON {TABLE} (table_name, row_key, id)"),
        format!("CREATE INDEX IF NOT EXISTS {TABLE}_actor ON {TABLE} (actor, id)"),
        FUNCTION
            .replace("{TABLE}", TABLE)
            .replace("{ACTOR}", ACTOR_SETTING)
            .replace("{SYSTEM}", SYSTEM_ACTOR_SETTING)
            .replace("{POLICY}", POLICY_SETTING)
            .replace("{SQLSTATE}", NO_ACTOR_SQLSTATE)
            .replace("{REDACTED}", REDACTED),
    ]
}

// Row-level and AFTER: OLD is the version this statement replaced, under
// its row lock, so each record's `before` is the previous record's `after`
// even under concurrent writers. Arguments: key column, tenant column,
// soft-delete column ('' for none), excluded and redacted columns
// (comma-separated).
//
// Created by a DO block that names the installing schema in the body
// (`INSERT INTO "schema".strata_audit`): the function then writes to that
// schema's table whatever the writer's `search_path`, without the
// per-call cost of `SET search_path` on the function (a GUC save and
// restore on every row). The settings beyond the actor are read only when
// there is no actor.
const FUNCTION: &str = r#"DO $strata_install$ BEGIN EXECUTE format($fmt$
CREATE OR REPLACE FUNCTION %1$I.strata_audit_row() RETURNS trigger
LANGUAGE plpgsql AS $strata$
DECLARE
    b jsonb;
    a jsonb;
    r jsonb;
    c text;
    kind text := lower(TG_OP);
    who text := NULLIF(current_setting('{ACTOR}', true), '');
BEGIN
    IF who IS NULL THEN
        who := NULLIF(current_setting('{SYSTEM}', true), '');
        IF who IS NULL AND current_setting('{POLICY}', true) = 'refuse' THEN
            RAISE EXCEPTION 'strata audit: %%.%% is audited and this write has no actor', TG_TABLE_SCHEMA, TG_TABLE_NAME
                USING ERRCODE = '{SQLSTATE}', SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
                      HINT = 'run it inside strata::audit::with_actor, or name a system actor with Config::audit_without_actor';
        END IF;
    END IF;
    IF TG_OP <> 'INSERT' THEN b := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN a := to_jsonb(NEW); END IF;
    r := coalesce(a, b);
    IF TG_OP = 'UPDATE' AND TG_ARGV[2] <> '' THEN
        IF b -> TG_ARGV[2] = 'null'::jsonb AND a -> TG_ARGV[2] <> 'null'::jsonb THEN
            kind := 'soft_delete';
        ELSIF b -> TG_ARGV[2] <> 'null'::jsonb AND a -> TG_ARGV[2] = 'null'::jsonb THEN
            kind := 'restore';
        END IF;
    END IF;
    IF TG_ARGV[3] <> '' THEN
        b := b - string_to_array(TG_ARGV[3], ',');
        a := a - string_to_array(TG_ARGV[3], ',');
    END IF;
    IF TG_ARGV[4] <> '' THEN
        FOREACH c IN ARRAY string_to_array(TG_ARGV[4], ',') LOOP
            IF b ? c THEN b := jsonb_set(b, ARRAY[c], to_jsonb('{REDACTED}'::text)); END IF;
            IF a ? c THEN a := jsonb_set(a, ARRAY[c], to_jsonb('{REDACTED}'::text)); END IF;
        END LOOP;
    END IF;
    INSERT INTO %1$I.{TABLE} (table_name, row_key, op, actor, tenant, before, after)
    VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, r ->> TG_ARGV[0], kind, who,
            CASE WHEN TG_ARGV[1] <> '' THEN r ->> TG_ARGV[1] END, b, a);
    RETURN NULL;
END
$strata$
$fmt$, current_schema()); END $strata_install$"#;

/// A SQL string literal of `s` (standard conforming strings).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The trigger that audits every row `meta`'s table changes, whatever
/// statement changes it.
pub(super) fn trigger_statement(meta: &ModelMeta, audit: &AuditMeta) -> String {
    let args = [
        meta.primary_key.to_owned(),
        meta.tenant
            .as_ref()
            .map_or(String::new(), |t| t.column.to_owned()),
        meta.deleted_at.unwrap_or("").to_owned(),
        audit.exclude.join(","),
        audit.redact.join(","),
    ];
    let args: Vec<String> = args.iter().map(|a| literal(a)).collect();
    format!(
        "CREATE OR REPLACE TRIGGER strata_audit AFTER INSERT OR UPDATE OR DELETE ON {} \
         FOR EACH ROW EXECUTE FUNCTION strata_audit_row({})",
        meta.qualified,
        args.join(", ")
    )
}

/// Removes the trigger from `meta`'s table.
pub(super) fn drop_trigger_statement(meta: &ModelMeta) -> String {
    format!("DROP TRIGGER IF EXISTS strata_audit ON {}", meta.qualified)
}
