//! `get_many`: the rows of many keys in the order asked, from one
//! statement, and the matching of rows back to keys that the batch stage
//! shares.
//!
//! Keys are matched by their text form (`Debug`), the identity the cache
//! already uses for rows, so `Model::Key` needs no `Hash` bound. The keys
//! go out deduplicated as one array parameter: 100,000 keys are one bind,
//! never past the protocol's 65,535 parameters.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Row;

use super::Model;
use super::scope::Scope;
use crate::__private::ColumnType;
use crate::cache::row_id;
use crate::error::Result;
use crate::executor::{Executor, OpKind};
use crate::pipeline::run_query;

/// One slot per key of `keys`, in order: the visible row, or `None`.
pub(super) async fn get_many<M: Model, E: Executor + ?Sized>(
    e: &E,
    keys: &[M::Key],
) -> Result<Vec<Option<M>>> {
    let rows = rows_of::<M, E>(e, &distinct(keys)).await?;
    let at = by_key::<M>(&rows)?;
    keys.iter()
        .map(|k| match at.get(&row_id(k)) {
            Some(&i) => M::from_row(&rows[i]).map(Some),
            None => Ok(None),
        })
        .collect()
}

/// The visible rows with these keys (one statement, the keys as one
/// array; none for no keys): `find_many`'s and `get_many`'s statement.
pub(super) async fn rows_of<M: Model, E: Executor + ?Sized>(
    e: &E,
    keys: &[M::Key],
) -> Result<Vec<Row>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let scope = Scope::checked::<M, E>(e).await?;
    let keys: Vec<M::Key> = keys.to_vec();
    let params = scope.push(vec![ColumnType::param_array(&keys)]);
    run_query(
        e,
        M::META.sql.find_many,
        &params,
        OpKind::Read,
        scope.around(),
    )
    .await
}

/// `keys` without repeats, first occurrence first.
pub(super) fn distinct<K: Clone + std::fmt::Debug>(keys: &[K]) -> Vec<K> {
    let mut seen = HashSet::with_capacity(keys.len());
    keys.iter()
        .filter(|k| seen.insert(row_id(k)))
        .cloned()
        .collect()
}

/// Each row's index by its key's text form.
pub(super) fn by_key<M: Model>(rows: &[Row]) -> Result<HashMap<String, usize>> {
    let at = M::META
        .columns
        .iter()
        .position(|c| c.primary_key)
        .expect("a model has a primary key column");
    let mut map = HashMap::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let key = <M::Key as ColumnType>::decode(row, at, M::META.primary_key)?;
        map.insert(row_id(&key), i);
    }
    Ok(map)
}
