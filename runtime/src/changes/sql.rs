//! The feed's DDL: per table, one trigger function and four
//! statement-level triggers. Runs as a migration ([`install_sql`]) or from
//! [`Db::install_changes`](crate::Db::install_changes).

use crate::model::{Model, ModelMeta};
use crate::sql::ident::quote;

/// The trigger function of one table. Its queries are static (the key
/// column is written into them), so PL/pgSQL plans each once per session:
/// a dynamic `EXECUTE` would be planned on every statement, at about three
/// times the cost.
///
/// - A statement that changed no row sends nothing.
/// - Keys are the primary keys the statement touched (an update sends the
///   old and the new key, in case it changed the key).
/// - More than 1000 keys, or a payload over 7900 bytes (NOTIFY's limit is
///   8000), becomes a table-level event of the same kind.
/// - `TRUNCATE` is a table-level delete.
/// - The channel is derived from the table's own name when it fires.
fn function_body(pk: &str) -> String {
    let keys = |from: &str| {
        format!("SELECT count(*), json_agg(k)::text INTO n, keys FROM ({from} LIMIT 1001) s;")
    };
    let insert = keys(&format!("SELECT {pk} AS k FROM strata_new"));
    let update = keys(&format!(
        "SELECT {pk} AS k FROM strata_new UNION SELECT {pk} FROM strata_old"
    ));
    let delete = keys(&format!("SELECT {pk} AS k FROM strata_old"));
    format!(
        r#"RETURNS trigger LANGUAGE plpgsql AS $strata$
DECLARE
  channel text := 'strata_' || md5(quote_ident(TG_TABLE_SCHEMA) || '.' || quote_ident(TG_TABLE_NAME));
  kind text := lower(left(TG_OP, 1));
  n bigint;
  keys text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    {insert}
  ELSIF TG_OP = 'UPDATE' THEN
    {update}
  ELSIF TG_OP = 'DELETE' THEN
    {delete}
  ELSE
    PERFORM pg_notify(channel, '{{"k":"d","table":true}}');
    RETURN NULL;
  END IF;
  IF n = 0 THEN
    RETURN NULL;
  END IF;
  IF n > 1000 OR octet_length(keys) > 7900 THEN
    PERFORM pg_notify(channel, '{{"k":"' || kind || '","table":true}}');
  ELSE
    PERFORM pg_notify(channel, '{{"k":"' || kind || '","keys":' || keys || '}}');
  END IF;
  RETURN NULL;
END
$strata$"#
    )
}

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

/// The table's trigger function, in the model's schema (or the first
/// schema of `search_path` for a model without one, where its table is
/// too): `strata_changes_` and 16 hex digits of the SHA-256 of the quoted
/// table name, so any table name fits in an identifier.
fn function(meta: &ModelMeta) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(meta.qualified.as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    match meta.schema {
        Some(schema) => format!("{}.strata_changes_{hex}", quote(schema)),
        None => format!("strata_changes_{hex}"),
    }
}

/// The statements that install the feed's triggers on `M`'s table, in
/// order; idempotent (the function is replaced, the triggers recreated).
pub(crate) fn install_statements(meta: &ModelMeta) -> Vec<String> {
    let f = function(meta);
    let mut out = vec![
        // Two installs at once would race on CREATE OR REPLACE.
        "SELECT pg_advisory_xact_lock(hashtext('strata_changes_install'))".to_owned(),
        format!(
            "CREATE OR REPLACE FUNCTION {f}() {}",
            function_body(&quote(meta.primary_key))
        ),
    ];
    for (name, event, referencing) in TRIGGERS {
        out.push(format!(
            "DROP TRIGGER IF EXISTS {name} ON {}",
            meta.qualified
        ));
        out.push(format!(
            "CREATE TRIGGER {name} AFTER {event} ON {} {referencing} \
             FOR EACH STATEMENT EXECUTE FUNCTION {f}()",
            meta.qualified
        ));
    }
    out
}

/// The statements that remove `M`'s triggers and their function.
pub(crate) fn uninstall_statements(meta: &ModelMeta) -> Vec<String> {
    let mut out: Vec<String> = TRIGGERS
        .iter()
        .map(|(name, _, _)| format!("DROP TRIGGER IF EXISTS {name} ON {}", meta.qualified))
        .collect();
    out.push(format!("DROP FUNCTION IF EXISTS {}()", function(meta)));
    out
}

/// The SQL that installs the change feed's triggers on `M`'s table, for a
/// migration's `up.sql`: a trigger function `strata_changes_<hash>()` in
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
