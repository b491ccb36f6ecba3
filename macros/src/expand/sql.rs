//! The SQL text of every statement, built once at compile time. The only
//! place identifiers are quoted and placeholders numbered. One function per
//! statement, each following the shape table in `strata::model`'s docs;
//! the `WHERE` of every by-key statement comes from [`Names::by_key`].

use crate::model::{Field, Model};

/// Every statement of one model.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    pub(crate) qualified: String,
    pub(crate) select_list: String,
    pub(crate) get: String,
    pub(crate) get_with_deleted: String,
    pub(crate) find_many: String,
    pub(crate) insert: String,
    pub(crate) copy_in: String,
    pub(crate) update: String,
    pub(crate) patch: Patch,
    pub(crate) patch_shape: PatchParts,
    pub(crate) upsert: String,
    pub(crate) delete: String,
    pub(crate) restore: String,
    pub(crate) hard_delete: String,
    pub(crate) exists: String,
    pub(crate) count: String,
}

/// `"name"`, with `"` doubled inside the name.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The fixed `patch` statement. With a version column its text holds the
/// version's SQL type (`$n::int4 IS NULL`), which only the field type
/// knows: the derive emits the text around it, and the expansion joins
/// them with `<T as VersionType>::CAST` at compile time.
#[derive(Debug, Clone)]
pub(crate) enum Patch {
    /// No version column: the whole text.
    Text(String),
    /// The text before and after the version's SQL type.
    AroundCast(String, String),
}

/// The pieces a `patch` statement for one set of present fields is
/// assembled from at run time (see `strata::model::PatchTemplate`).
#[derive(Debug, Clone)]
pub(crate) struct PatchParts {
    pub(crate) head: String,
    pub(crate) sets: Vec<String>,
    pub(crate) stamps: String,
    pub(crate) key: String,
    pub(crate) version: String,
    pub(crate) tenant: String,
    pub(crate) tail: String,
}

/// The quoted names a statement is assembled from.
struct Names {
    /// `"schema"."table"` or `"table"`.
    table: String,
    /// `"id", "email", ..`: every column, for SELECT and RETURNING.
    columns: String,
    primary_key: String,
    deleted_at: Option<String>,
    version: Option<String>,
    updated_at: Option<String>,
    insertable: Vec<String>,
    writable: Vec<String>,
    conflict: Vec<String>,
    /// The tenant column of a tenant model: every statement filters on it
    /// (inserts set it), bound as the statement's last parameter.
    tenant: Option<String>,
}

/// Builds every statement of `model`, whose primary key is `pk`.
pub(crate) fn statements(model: &Model<'_>, pk: &Field<'_>) -> Sql {
    let quoted = |f: &Field<'_>| quote_ident(&f.column);
    let table = match &model.schema {
        Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&model.table)),
        None => quote_ident(&model.table),
    };
    let n = Names {
        columns: model.columns().map(quoted).collect::<Vec<_>>().join(", "),
        primary_key: quoted(pk),
        deleted_at: model.deleted_at().map(quoted),
        version: model.version().map(quoted),
        updated_at: model.updated_at().map(quoted),
        insertable: model.insertable().map(quoted).collect(),
        writable: model.writable().map(quoted).collect(),
        conflict: model
            .tenant()
            .into_iter()
            .chain(model.conflict_target())
            .map(quoted)
            .collect(),
        tenant: model.tenant().map(quoted),
        table,
    };
    // The number of the tenant's placeholder: one past the statement's own.
    let w = n.writable.len();
    let v = usize::from(n.version.is_some());
    Sql {
        qualified: n.table.clone(),
        select_list: n.columns.clone(),
        get: select(&n, "= $1", Visible::Only),
        get_with_deleted: select(&n, "= $1", Visible::All),
        find_many: select(&n, "= ANY($1)", Visible::Only),
        insert: insert(&n),
        copy_in: copy_in(&n),
        update: update(&n, w + 2 + v),
        patch: patch(&n, 2 * w + 2 + v),
        patch_shape: patch_shape(&n),
        upsert: upsert(&n),
        delete: delete(&n),
        restore: restore(&n),
        hard_delete: hard_delete(&n),
        exists: exists(&n),
        count: count(&n),
    }
}

/// Whether a by-key statement hides soft-deleted rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Visible {
    /// `AND <deleted_at> IS NULL` when the model has soft delete.
    Only,
    /// Soft-deleted rows included.
    All,
}

impl Names {
    /// `WHERE <pk> <op> [AND <extra>].. [AND <deleted_at> IS NULL]`: the one
    /// place a statement's row filter is assembled.
    fn by_key(&self, op: &str, extra: &[String], visible: Visible) -> String {
        self.by_key_at(op, extra, visible, 2)
    }

    /// [`Names::by_key`] with the tenant bound as `$tenant_at`.
    fn by_key_at(&self, op: &str, extra: &[String], visible: Visible, tenant_at: usize) -> String {
        let mut out = format!("WHERE {} {op}", self.primary_key);
        for condition in extra {
            out.push_str(" AND ");
            out.push_str(condition);
        }
        out.push_str(&self.tenant_filter(tenant_at));
        if visible == Visible::Only {
            out.push_str(&self.live_filter());
        }
        out
    }

    /// ` AND <tenant> = $at` for a tenant model, else empty.
    fn tenant_filter(&self, at: usize) -> String {
        self.tenant
            .as_ref()
            .map(|tenant| format!(" AND {tenant} = ${at}"))
            .unwrap_or_default()
    }

    /// ` AND <deleted_at> IS NULL` when the model has soft delete, else empty.
    fn live_filter(&self) -> String {
        self.deleted_at
            .as_ref()
            .map(|deleted_at| format!(" AND {deleted_at} IS NULL"))
            .unwrap_or_default()
    }

    /// `SET a, b, ..`; a statement with nothing to set assigns the key to
    /// itself, which keeps the SQL valid and changes nothing.
    fn set_list(&self, assignments: Vec<String>, key_itself: String) -> String {
        if assignments.is_empty() {
            format!("SET {key_itself}")
        } else {
            format!("SET {}", assignments.join(", "))
        }
    }

    /// `INSERT INTO <t> (..) VALUES ($1..$n)`, or `DEFAULT VALUES` when
    /// the database fills every column.
    /// A tenant model's tenant column comes last, bound after the values.
    fn insert_head(&self) -> String {
        let columns = self.insert_columns();
        if columns.is_empty() {
            return format!("INSERT INTO {} DEFAULT VALUES", self.table);
        }
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.table,
            columns.join(", "),
            placeholders.join(", ")
        )
    }

    /// The columns an insert names: the insertable ones, then the tenant.
    fn insert_columns(&self) -> Vec<String> {
        self.insertable
            .iter()
            .chain(self.tenant.iter())
            .cloned()
            .collect()
    }

    /// The assignments every update adds after the value columns.
    fn stamps(&self, version_base: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(updated_at) = &self.updated_at {
            out.push(format!("{updated_at} = now()"));
        }
        if let Some(version) = &self.version {
            out.push(format!("{version} = {version_base}{version} + 1"));
        }
        out
    }
}

/// `SELECT <cols> FROM <t> WHERE <pk> <op> ..`: `get`, `get_with_deleted`
/// and `find_many`.
fn select(n: &Names, op: &str, visible: Visible) -> String {
    format!(
        "SELECT {} FROM {} {}",
        n.columns,
        n.table,
        n.by_key(op, &[], visible)
    )
}

fn insert(n: &Names) -> String {
    format!("{} RETURNING {}", n.insert_head(), n.columns)
}

fn copy_in(n: &Names) -> String {
    format!(
        "COPY {} ({}) FROM STDIN BINARY",
        n.table,
        n.insert_columns().join(", ")
    )
}

/// `$1` the key, `$2..` the writable columns, then the current version,
/// then the tenant (`$tenant_at`).
fn update(n: &Names, tenant_at: usize) -> String {
    let set = n
        .writable
        .iter()
        .enumerate()
        .map(|(i, col)| format!("{col} = ${}", i + 2))
        .collect();
    let version = n
        .version
        .as_ref()
        .map(|version| format!("{version} = ${}", n.writable.len() + 2));
    update_by_key(n, set, version, tenant_at)
}

/// Stands for the version's SQL type in the text of `patch` until it is
/// split there; NUL cannot be part of an SQL identifier.
const CAST: &str = "\0";

/// `$1` the key, then a flag and a value per writable column, then the
/// expected version (NULL: any version), cast to the version's SQL type,
/// then the tenant (`$tenant_at`).
fn patch(n: &Names, tenant_at: usize) -> Patch {
    let set = n
        .writable
        .iter()
        .enumerate()
        .map(|(i, col)| {
            let flag = 2 * i + 2;
            format!(
                "{col} = CASE WHEN ${flag} THEN ${} ELSE {col} END",
                flag + 1
            )
        })
        .collect();
    let m = 2 * n.writable.len() + 2;
    let version = n
        .version
        .as_ref()
        .map(|version| format!("(${m}::{CAST} IS NULL OR {version} = ${m})"));
    let text = update_by_key(n, set, version, tenant_at);
    match text.split_once(CAST) {
        Some((before, after)) => Patch::AroundCast(before.to_owned(), after.to_owned()),
        None => Patch::Text(text),
    }
}

/// `UPDATE <t> SET <set>, <stamps> WHERE <pk> = $1 [AND <version>] [AND
/// <deleted_at> IS NULL] RETURNING <cols>`: `update` and `patch`.
fn update_by_key(
    n: &Names,
    mut set: Vec<String>,
    version: Option<String>,
    tenant_at: usize,
) -> String {
    set.extend(n.stamps(""));
    let extra: Vec<String> = version.into_iter().collect();
    format!(
        "UPDATE {} {} {} RETURNING {}",
        n.table,
        n.set_list(set, format!("{0} = {0}", n.primary_key)),
        n.by_key_at("= $1", &extra, Visible::Only, tenant_at),
        n.columns
    )
}

/// `UPDATE <t> SET <w> = $2, .. <stamps> WHERE <pk> = $1 [AND <version> =
/// $n] [AND <deleted_at> IS NULL] RETURNING <cols>`, in pieces: the runtime
/// numbers the placeholders of the fields a patch has.
fn patch_shape(n: &Names) -> PatchParts {
    PatchParts {
        head: format!("UPDATE {} SET ", n.table),
        sets: n.writable.iter().map(|col| format!("{col} = $")).collect(),
        stamps: n.stamps("").iter().map(|s| format!(", {s}")).collect(),
        key: format!(" WHERE {} = $1", n.primary_key),
        version: n
            .version
            .as_ref()
            .map(|v| format!(" AND {v} = $"))
            .unwrap_or_default(),
        tenant: n
            .tenant
            .as_ref()
            .map(|t| format!(" AND {t} = $"))
            .unwrap_or_default(),
        tail: format!("{} RETURNING {}", n.live_filter(), n.columns),
    }
}

/// The insert's parameters; on conflict the writable columns take the new
/// values, and a soft-deleted row is revived (`deleted_at = NULL`): the
/// caller asked for the row to exist with these values, and a row left
/// deleted would be invisible to every read.
fn upsert(n: &Names) -> String {
    let mut set: Vec<String> = n
        .writable
        .iter()
        .map(|col| format!("{col} = EXCLUDED.{col}"))
        .collect();
    set.extend(n.stamps(&format!("{}.", n.table)));
    if let Some(deleted_at) = &n.deleted_at {
        set.push(format!("{deleted_at} = NULL"));
    }
    // The conflict target holds the tenant, so the row it finds is the
    // scope's; the guard says so again where the statement is read.
    let guard = n
        .tenant
        .as_ref()
        .map(|t| format!(" WHERE {0}.{t} = EXCLUDED.{t}", n.table))
        .unwrap_or_default();
    format!(
        "{} ON CONFLICT ({}) DO UPDATE {}{guard} RETURNING {}",
        n.insert_head(),
        n.conflict.join(", "),
        n.set_list(set, format!("{0} = {1}.{0}", n.primary_key, n.table)),
        n.columns
    )
}

fn delete(n: &Names) -> String {
    match &n.deleted_at {
        Some(deleted_at) => format!(
            "UPDATE {} SET {deleted_at} = now() {}",
            n.table,
            n.by_key("= $1", &[], Visible::Only)
        ),
        None => hard_delete(n),
    }
}

/// Empty without soft delete: there is nothing to restore.
fn restore(n: &Names) -> String {
    match &n.deleted_at {
        Some(deleted_at) => format!(
            "UPDATE {} SET {deleted_at} = NULL {} RETURNING {}",
            n.table,
            n.by_key("= $1", &[], Visible::All),
            n.columns
        ),
        None => String::new(),
    }
}

fn hard_delete(n: &Names) -> String {
    format!(
        "DELETE FROM {} {}",
        n.table,
        n.by_key("= $1", &[], Visible::All)
    )
}

fn exists(n: &Names) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM {} {})",
        n.table,
        n.by_key("= $1", &[], Visible::Only)
    )
}

fn count(n: &Names) -> String {
    let mut terms: Vec<String> = n.tenant.iter().map(|t| format!("{t} = $1")).collect();
    terms.extend(n.deleted_at.iter().map(|d| format!("{d} IS NULL")));
    if terms.is_empty() {
        format!("SELECT count(*) FROM {}", n.table)
    } else {
        format!(
            "SELECT count(*) FROM {} WHERE {}",
            n.table,
            terms.join(" AND ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::quote_ident;

    #[test]
    fn quotes_are_doubled() {
        assert_eq!(quote_ident("users"), "\"users\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
    }
}
