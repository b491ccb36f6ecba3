//! The feed's DDL: one trigger function per schema, four statement-level
//! triggers per table. Runs as a migration ([`install_sql`]) or from
//! [`Db::install_changes`](crate::Db::install_changes).

use crate::model::{Model, ModelMeta};

/// The trigger function's body. One function serves every table of its
/// schema: the primary key column is the trigger's argument, the channel
/// is derived from the table's own name at run time.
///
/// - A statement that changed no row sends nothing.
/// - Keys are the distinct primary keys the statement touched (an update
///   sends the old and the new key, in case it changed the key).
/// - More than 1000 keys, or a payload over 7900 bytes (NOTIFY's limit is
///   8000), becomes a table-level event of the same kind.
/// - `TRUNCATE` is a table-level delete.
const FUNCTION: &str = r#"RETURNS trigger LANGUAGE plpgsql AS $strata$
DECLARE
  channel text := 'strata_' || md5(quote_ident(TG_TABLE_SCHEMA) || '.' || quote_ident(TG_TABLE_NAME));
  kind text := lower(left(TG_OP, 1));
  n bigint;
  keys text;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify(channel, '{"k":"d","table":true}');
    RETURN NULL;
  ELSIF TG_OP = 'DELETE' THEN
    EXECUTE format('SELECT count(*), json_agg(k)::text FROM (SELECT %I AS k FROM strata_old LIMIT 1001) s', TG_ARGV[0]) INTO n, keys;
  ELSIF TG_OP = 'UPDATE' THEN
    EXECUTE format('SELECT count(*), json_agg(k)::text FROM (SELECT %1$I AS k FROM strata_new UNION SELECT %1$I FROM strata_old LIMIT 1001) s', TG_ARGV[0]) INTO n, keys;
  ELSE
    EXECUTE format('SELECT count(*), json_agg(k)::text FROM (SELECT %I AS k FROM strata_new LIMIT 1001) s', TG_ARGV[0]) INTO n, keys;
  END IF;
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  IF n > 1000 OR octet_length(keys) > 7900 THEN
    PERFORM pg_notify(channel, '{"k":"' || kind || '","table":true}');
  ELSE
    PERFORM pg_notify(channel, '{"k":"' || kind || '","keys":' || keys || '}');
  END IF;
  RETURN NULL;
END
$strata$"#;

/// The triggers: name, event, transition tables.
const TRIGGERS: [(&str, &str, &str); 4] = [
    (
        "strata_changes_i",
        "INSERT",
        "REFERENCING NEW TABLE AS strata_new",
    ),
    (
        "strata_changes_u",
        "UPDATE",
        "REFERENCING OLD TABLE AS strata_old NEW TABLE AS strata_new",
    ),
    (
        "strata_changes_d",
        "DELETE",
        "REFERENCING OLD TABLE AS strata_old",
    ),
    ("strata_changes_t", "TRUNCATE", ""),
];

fn quoted(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The function's name, in the model's schema (or the first schema of
/// `search_path` for a model without one, where its table is too).
fn function(meta: &ModelMeta) -> String {
    match meta.schema {
        Some(schema) => format!("{}.strata_changes_notify", quoted(schema)),
        None => "strata_changes_notify".to_owned(),
    }
}

/// The statements that install the feed's triggers on `M`'s table, in
/// order; idempotent (the function is replaced, the triggers recreated).
pub(crate) fn install_statements(meta: &ModelMeta) -> Vec<String> {
    let f = function(meta);
    let pk = meta.primary_key.replace('\'', "''");
    let mut out = vec![
        // Two installs at once would race on CREATE OR REPLACE.
        "SELECT pg_advisory_xact_lock(hashtext('strata_changes_install'))".to_owned(),
        format!("CREATE OR REPLACE FUNCTION {f}() {FUNCTION}"),
    ];
    for (name, event, referencing) in TRIGGERS {
        out.push(format!(
            "DROP TRIGGER IF EXISTS {name} ON {}",
            meta.qualified
        ));
        out.push(format!(
            "CREATE TRIGGER {name} AFTER {event} ON {} {referencing} \
             FOR EACH STATEMENT EXECUTE FUNCTION {f}('{pk}')",
            meta.qualified
        ));
    }
    out
}

/// The statements that remove `M`'s triggers (the function stays: other
/// tables of the schema may use it).
pub(crate) fn uninstall_statements(meta: &ModelMeta) -> Vec<String> {
    TRIGGERS
        .iter()
        .map(|(name, _, _)| format!("DROP TRIGGER IF EXISTS {name} ON {}", meta.qualified))
        .collect()
}

/// The SQL that installs the change feed's triggers on `M`'s table, for a
/// migration's `up.sql`: a trigger function `strata_changes_notify()` in
/// the table's schema and four `FOR EACH STATEMENT` triggers. Idempotent.
///
/// ```
/// # use strata::Model;
/// #[derive(Model)]
/// #[model(table = "users")]
/// struct User { id: i64, name: String }
///
/// let sql = strata::changes::install_sql::<User>();
/// assert!(sql.contains("CREATE TRIGGER strata_changes_u AFTER UPDATE ON \"users\""));
/// ```
pub fn install_sql<M: Model>() -> String {
    join(install_statements(M::META))
}

/// The SQL that removes `M`'s change-feed triggers, for a `down.sql`.
pub fn uninstall_sql<M: Model>() -> String {
    join(uninstall_statements(M::META))
}

fn join(statements: Vec<String>) -> String {
    statements.into_iter().fold(String::new(), |mut out, s| {
        out.push_str(&s);
        out.push_str(";\n");
        out
    })
}
