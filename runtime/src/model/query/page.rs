//! Offset pagination: [`Query::fetch_page`] and its [`Page`].

use super::Query;
use super::render::Stmt;
use crate::error::{Error, Result};
use crate::executor::Executor;
use crate::model::Model;
use crate::pipeline::counted;
use crate::tenant::ListsOn;

/// One page of an offset-paginated query.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Page<M> {
    /// The rows of this page.
    pub items: Vec<M>,
    /// Rows matching the query on all pages.
    pub total: u64,
    /// This page's number, from 1.
    pub page: u64,
    /// The page size.
    pub per_page: u64,
    /// `ceil(total / per_page)`.
    pub total_pages: u64,
}

impl<M: Model> Query<M> {
    /// The page set with [`Query::page`] (page 1 of 20 if none), with the
    /// total.
    ///
    /// Rows are ordered by the query's `order_by` keys and then by the
    /// primary key, so rows that tie on the keys keep one place and every
    /// row is on exactly one page (as long as the rows do not change
    /// between pages; keyset pagination is the way to page through a table
    /// that changes).
    ///
    /// Returns `Error::InvalidInput` for page 0, a `per_page` of 0, or a
    /// page whose offset is past PostgreSQL's `bigint`.
    pub async fn fetch_page<E: Executor + ?Sized>(&self, e: &E) -> Result<Page<M>>
    where
        M: ListsOn<E::Scope>,
    {
        let (page, per_page) = self.page.unwrap_or((1, 20));
        if page == 0 || per_page == 0 {
            return counted(
                e,
                Err(Error::InvalidInput {
                    reason: format!(
                        "page {page} of per_page {per_page}: pages count from 1 and hold at least one row"
                    ),
                }),
            );
        }
        let offset = counted(
            e,
            (page - 1)
                .checked_mul(per_page)
                .ok_or_else(|| Error::InvalidInput {
                    reason: format!("page {page} of per_page {per_page} is past any table"),
                }),
        )?;
        let total = self.count(e).await?;
        let stmt = Stmt::Page {
            limit: per_page,
            offset,
        };
        let items = Self::decode(&self.rows(e, stmt).await?)?;
        Ok(Page {
            items,
            total,
            page,
            per_page,
            total_pages: total.div_ceil(per_page),
        })
    }
}
