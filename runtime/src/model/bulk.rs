//! Many new rows in one call (`insert_many`): one multi-row `INSERT` for a
//! small batch, binary `COPY` for a large one, and chunked `INSERT`s in one
//! transaction where row-level security refuses `COPY FROM`.

use super::scope::Scope;
use super::{Model, NewModel, ParamList};
use crate::error::Result;
use crate::executor::{Executor, OpKind};
use crate::pipeline::{CopyRows, run_copy, run_execute};
use crate::tx::TxOptions;

/// Batches larger than this go through binary `COPY` instead of one
/// multi-row `INSERT`.
pub const COPY_THRESHOLD: usize = 256;

/// PostgreSQL's limit on bind parameters in one statement.
const MAX_PARAMS: usize = 65_535;

/// Inserts `rows` (already validated) by the fastest path their size and
/// the table's row-level security allow.
pub(super) async fn insert_rows<M: Model, E: Executor + ?Sized>(
    e: &E,
    scope: Scope<'_>,
    rows: &[M::New],
) -> Result<u64> {
    let width = insert_width::<M>(scope).max(1);
    if rows.is_empty() {
        Ok(0)
    } else if rows.len() <= COPY_THRESHOLD && rows.len() * width <= MAX_PARAMS {
        insert_values::<M, E>(e, scope, rows).await
    } else if scope.rls {
        // PostgreSQL refuses `COPY FROM` under row-level security.
        insert_chunked::<M, E>(e, scope, rows).await
    } else {
        copy_in::<M, E>(e, scope, rows).await
    }
}

/// The columns an insert of `M` binds per row: the insertable ones, and
/// the tenant on a tenant model.
fn insert_width<M: Model>(scope: Scope<'_>) -> usize {
    M::META.insert_columns.len() + usize::from(scope.tenant.is_some())
}

/// One multi-row `INSERT ... VALUES (..), (..)`. The shape depends on the
/// row count, so it is built here from the derive's column list (and the
/// tenant column last, bound per row, on a tenant model).
async fn insert_values<M: Model, E: Executor + ?Sized>(
    e: &E,
    scope: Scope<'_>,
    rows: &[M::New],
) -> Result<u64> {
    let (sql, params) = values_statement::<M>(scope, rows);
    run_execute(e, &sql, &params, OpKind::Write, scope.around()).await
}

/// The text and parameters of [`insert_values`].
fn values_statement<'a, M: Model>(scope: Scope<'a>, rows: &'a [M::New]) -> (String, ParamList<'a>) {
    let meta = M::META;
    let tenant = meta.tenant.as_ref().filter(|_| scope.tenant.is_some());
    let width = insert_width::<M>(scope);
    let mut sql = format!("INSERT INTO {} (", meta.qualified);
    let columns = meta.insert_columns.iter().chain(tenant.map(|t| &t.column));
    for (i, c) in columns.enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        crate::sql::ident::push_quoted(&mut sql, c);
    }
    sql.push_str(") VALUES ");
    let mut n = 0;
    for r in 0..rows.len() {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            n += 1;
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        if width == 0 {
            sql.push_str("DEFAULT");
        }
        sql.push(')');
    }
    let params: ParamList<'_> = rows
        .iter()
        .flat_map(|row| scope.push(row.insert_params()))
        .collect();
    (sql, params)
}

/// Many rows into a table with row-level security, where `COPY FROM` is
/// refused: multi-row `INSERT`s of as many rows as the parameter limit
/// allows, all in one transaction (the caller's, or one of their own that
/// sets the tenant), so the batch stays all or nothing.
async fn insert_chunked<M: Model, E: Executor + ?Sized>(
    e: &E,
    scope: Scope<'_>,
    rows: &[M::New],
) -> Result<u64> {
    let per = (MAX_PARAMS / insert_width::<M>(scope).max(1)).max(1);
    if e.__in_tx() {
        let mut n = 0;
        for chunk in rows.chunks(per) {
            n += insert_values::<M, E>(e, scope, chunk).await?;
        }
        return Ok(n);
    }
    let set_local = e.__tenant().map_or("", |t| t.set_local());
    let opts = TxOptions::new().max_retries(0);
    let begin = format!("{}{set_local}", opts.begin_sql());
    e.__db()
        .transaction_with(opts, begin, |tx| async move {
            let mut n = 0;
            for chunk in rows.chunks(per) {
                let (sql, params) = values_statement::<M>(scope, chunk);
                n += run_execute(&tx, &sql, &params, OpKind::Write, scope.around()).await?;
            }
            Ok(n)
        })
        .await
}

/// One binary `COPY ... FROM STDIN`: the fastest bulk path PostgreSQL has.
/// The pipeline prepares the single-row insert for the column types (the
/// connection's statement cache holds it after the first call).
async fn copy_in<M: Model, E: Executor + ?Sized>(
    e: &E,
    scope: Scope<'_>,
    rows: &[M::New],
) -> Result<u64> {
    let batch = Batch::<M>(rows, scope);
    // An audited COPY inside `with_actor` on a pooled connection needs the
    // actor set first, and a COPY cannot be pipelined between `BEGIN` and
    // `COMMIT` (its rows follow the server's answer): a transaction of its own.
    if !scope.audited || e.__in_tx() || crate::tx::actor::current_actor().is_none() {
        return run_copy(e, M::META.sql.copy_in, &batch, scope.around()).await;
    }
    let opts = TxOptions::new().max_retries(0);
    let begin = opts.begin_sql();
    let batch = &batch;
    e.__db()
        .transaction_with(opts, begin.to_owned(), |tx| async move {
            run_copy(&tx, M::META.sql.copy_in, batch, scope.around()).await
        })
        .await
}

/// A model's new rows, as `COPY` takes them (the tenant last in each).
struct Batch<'a, M: Model>(&'a [M::New], Scope<'a>);

impl<M: Model> CopyRows for Batch<'_, M> {
    fn insert_sql(&self) -> &str {
        M::META.sql.insert
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn width(&self) -> usize {
        insert_width::<M>(self.1)
    }

    fn row(&self, i: usize) -> ParamList<'_> {
        self.1.push(self.0[i].insert_params())
    }

    fn column(&self, c: usize) -> &str {
        let meta = M::META;
        match meta.insert_columns.get(c) {
            Some(name) => name,
            None => meta.tenant.as_ref().map_or("?", |t| t.column),
        }
    }
}
