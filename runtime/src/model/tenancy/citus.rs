//! Citus readiness: a tenant model whose every statement filters on the
//! tenant (the distribution column) routes each statement to one shard, and
//! a table whose keys all include the tenant can be distributed by it.
//!
//! [`check_statements`] reads the derive's statements with strata's SQL
//! tokenizer, not by string search, so a comment or a quoted name cannot
//! pass for the filter; [`Db::check_tenancy`] asks the server about the
//! table's keys and, for an RLS model, its role and policy.

use crate::executor::Executor as _;
use crate::model::{Model, ModelMeta};
use crate::pool::Db;
use crate::sql::lex::{Spanned, Token, spanned};

/// One way a tenant model falls short of single-tenant statements or
/// tenant-led keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenancyProblem {
    /// The statement (`get`, `update`, ..) or constraint it is about.
    pub what: String,
    /// What is wrong, and what to change.
    pub problem: String,
}

impl std::fmt::Display for TenancyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.problem)
    }
}

/// Checks that every statement the derive generated for `M` is confined to
/// one tenant: reads, updates and deletes carry `AND "<tenant>" = $n` at
/// the top level of their `WHERE` with `$n` the last parameter, inserts
/// and `COPY` name the tenant column, `upsert`'s conflict target holds it.
/// A model without a tenant has one problem: it is not a tenant model.
///
/// Use it in a test: `assert_eq!(strata::tenant::check_statements::<Deal>(), vec![])`.
pub fn check_statements<M: Model>() -> Vec<TenancyProblem> {
    let meta = M::META;
    let Some(tenant) = meta.tenant.as_ref() else {
        return vec![TenancyProblem {
            what: meta.name.to_owned(),
            problem: "not a tenant model; add `#[model(tenant = <field>)]`".to_owned(),
        }];
    };
    let column = crate::sql::ident::quote(tenant.column);
    let s = &meta.sql;
    let mut filtered = vec![
        ("get", s.get),
        ("get_with_deleted", s.get_with_deleted),
        ("find_many", s.find_many),
        ("update", s.update),
        ("patch", s.patch),
        ("delete", s.delete),
        ("hard_delete", s.hard_delete),
        ("exists", s.exists),
        ("count", s.count),
    ];
    if !s.restore.is_empty() {
        filtered.push(("restore", s.restore));
    }
    let mut out = Vec::new();
    for (what, sql) in filtered {
        if !filters_last_param(sql, &column) {
            out.push(problem(
                what,
                format!("`{sql}` does not filter on {column} = <its last parameter> at the top level of its WHERE"),
            ));
        }
    }
    for (what, sql) in [
        ("insert", s.insert),
        ("copy_in", s.copy_in),
        ("upsert", s.upsert),
    ] {
        if !names_column_first_list(sql, &column) {
            out.push(problem(what, format!("`{sql}` does not set {column}")));
        }
    }
    if !conflict_has(s.upsert, &column) {
        out.push(problem(
            "upsert",
            format!("the ON CONFLICT target of `{}` lacks {column}", s.upsert),
        ));
    }
    out
}

fn problem(what: &str, problem: String) -> TenancyProblem {
    TenancyProblem {
        what: what.to_owned(),
        problem,
    }
}

/// The text of a token.
fn text<'a>(sql: &'a str, t: &Spanned<'_>) -> &'a str {
    &sql[t.start..t.end]
}

/// Whether `sql` has `WHERE|AND <column> = $last` at the depth of its
/// (last) `WHERE`, with no `OR` at that depth.
fn filters_last_param(sql: &str, column: &str) -> bool {
    let (tokens, err) = spanned(sql);
    if err.is_some() {
        return false;
    }
    let last = tokens
        .iter()
        .filter_map(|t| match t.token {
            Token::Param(n) => Some(n),
            _ => None,
        })
        .max();
    let mut depth = 0i32;
    let mut where_depth = None;
    let mut found = false;
    for (i, t) in tokens.iter().enumerate() {
        match t.token {
            Token::Open => depth += 1,
            Token::Close => depth -= 1,
            Token::Word(_) if t.token.is("where") => where_depth = Some(depth),
            Token::Word(_) if t.token.is("or") && where_depth == Some(depth) => return false,
            Token::QuotedIdent(_) if text(sql, t) == column && where_depth == Some(depth) => {
                let before = i.checked_sub(1).map(|j| tokens[j].token);
                let joined = before.is_some_and(|b| b.is("and") || b.is("where"));
                let eq = tokens.get(i + 1).is_some_and(|n| text(sql, n) == "=");
                let param = tokens.get(i + 2).map(|n| n.token);
                if joined && eq && matches!(param, Some(Token::Param(n)) if Some(n) == last) {
                    found = true;
                }
            }
            _ => {}
        }
    }
    found
}

/// Whether the first parenthesised list of `sql` (an insert's or COPY's
/// columns) names `column`.
fn names_column_first_list(sql: &str, column: &str) -> bool {
    let (tokens, err) = spanned(sql);
    if err.is_some() {
        return false;
    }
    let Some(open) = tokens.iter().position(|t| t.token == Token::Open) else {
        return false;
    };
    tokens[open + 1..]
        .iter()
        .take_while(|t| t.token != Token::Close)
        .any(|t| text(sql, t) == column)
}

/// Whether the list after `ON CONFLICT` names `column`.
fn conflict_has(sql: &str, column: &str) -> bool {
    let (tokens, err) = spanned(sql);
    if err.is_some() {
        return false;
    }
    let Some(at) = tokens
        .windows(2)
        .position(|w| w[0].token.is("on") && w[1].token.is("conflict"))
    else {
        return false;
    };
    tokens[at + 2..]
        .iter()
        .skip_while(|t| t.token != Token::Open)
        .skip(1)
        .take_while(|t| t.token != Token::Close)
        .any(|t| text(sql, t) == column)
}

impl Db {
    /// Checks `M`'s table against its tenancy, at startup or in a test:
    /// - its primary key, unique constraints and indexes, and foreign keys
    ///   include the tenant column (what Citus needs to distribute the
    ///   table by tenant, and what keeps a key from colliding across
    ///   tenants);
    /// - for an `rls` model, that the connection's role is subject to
    ///   row-level security (not a superuser, no `BYPASSRLS`) and the table
    ///   has `ENABLE` and `FORCE ROW LEVEL SECURITY` and a policy: those
    ///   come back as `Error::Config` naming what to change.
    ///
    /// Returns the key problems found ([`TenancyProblem`]); an empty list
    /// means the table is ready.
    pub async fn check_tenancy<M: Model>(&self) -> crate::Result<Vec<TenancyProblem>> {
        let meta: &ModelMeta = M::META;
        let Some(tenant) = meta.tenant.as_ref() else {
            return Ok(check_statements::<M>());
        };
        if tenant.rls {
            super::rls::check(self, meta, tenant).await?;
        }
        let rows = self
            .query_read(
                "SELECT c.conname::text, c.contype::text, \
                        a.attnum = ANY (c.conkey) \
                 FROM pg_constraint c \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attname = $2 \
                 WHERE c.conrelid = to_regclass($1) AND c.contype IN ('p', 'u', 'f') \
                 UNION ALL \
                 SELECT i.indexrelid::regclass::text, 'i', a.attnum = ANY (i.indkey::int2[]) \
                 FROM pg_index i \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attname = $2 \
                 WHERE i.indrelid = to_regclass($1) AND i.indisunique \
                   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) \
                 ORDER BY 1",
                &[&meta.qualified, &tenant.column],
            )
            .await?;
        let mut out = check_statements::<M>();
        for row in rows {
            let (name, kind, has): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
            if has {
                continue;
            }
            let what = match kind.as_str() {
                "p" => "primary key",
                "u" => "unique constraint",
                "f" => "foreign key",
                _ => "unique index",
            };
            out.push(TenancyProblem {
                what: format!("{what} {name}"),
                problem: format!(
                    "does not include the tenant column \"{}\"; lead it with the tenant, e.g. PRIMARY KEY (\"{}\", id)",
                    tenant.column, tenant.column
                ),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_must_be_the_last_parameter_at_the_top_level() {
        let c = "\"t\"";
        assert!(filters_last_param(
            "SELECT 1 FROM x WHERE \"id\" = $1 AND \"t\" = $2",
            c
        ));
        assert!(!filters_last_param(
            "SELECT 1 FROM x WHERE \"id\" = $1 AND \"t\" = $1 AND \"v\" = $2",
            c
        ));
        assert!(!filters_last_param(
            "SELECT 1 FROM x WHERE \"id\" = $1 OR \"t\" = $2",
            c
        ));
        assert!(!filters_last_param(
            "SELECT 1 FROM x WHERE \"id\" = $1 /* AND \"t\" = $2 */",
            c
        ));
        assert!(!filters_last_param(
            "SELECT 1 FROM x WHERE \"id\" = $1 AND (\"t\" = $2 OR true)",
            c
        ));
        assert!(filters_last_param(
            "SELECT EXISTS (SELECT 1 FROM x WHERE \"id\" = $1 AND \"t\" = $2)",
            c
        ));
        assert!(conflict_has(
            "INSERT INTO x (\"a\", \"t\") VALUES ($1, $2) ON CONFLICT (\"t\", \"a\") DO UPDATE SET \"a\" = EXCLUDED.\"a\"",
            c
        ));
        assert!(!conflict_has(
            "INSERT INTO x (\"a\", \"t\") VALUES ($1, $2) ON CONFLICT (\"a\") DO UPDATE SET \"t\" = 1",
            c
        ));
    }
}
