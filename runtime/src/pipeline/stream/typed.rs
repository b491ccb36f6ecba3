//! A stream's rows decoded as a [`FromRow`] type, by column name: the
//! columns are looked up once, on the first row, as `query_as` does for a
//! whole result.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::{Stream, StreamExt};

use super::RowStream;
use crate::error::Result;
use crate::row::FromRow;

/// The rows of [`Executor::fetch_stream_as`](crate::Executor::fetch_stream_as):
/// a [`Stream`] of `Result<R>`. A row that does not decode is an `Err`
/// item and ends the stream, as a failed statement does.
pub struct FromRowStream<'a, R: FromRow> {
    rows: RowStream<'a>,
    columns: Option<R::Columns>,
    failed: bool,
}

impl<R: FromRow> fmt::Debug for FromRowStream<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromRowStream")
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl<R: FromRow> FromRowStream<'_, R> {
    /// How many rows the stream has read so far.
    pub fn rows_read(&self) -> u64 {
        self.rows.rows_read()
    }
}

impl<'a> RowStream<'a> {
    /// Decodes every row as `R`, by column name.
    pub fn rows_as<R: FromRow>(self) -> FromRowStream<'a, R> {
        FromRowStream {
            rows: self,
            columns: None,
            failed: false,
        }
    }
}

// `R::Columns` is plain data (column positions) held by value: the
// stream moves nothing pinned.
impl<R: FromRow> Unpin for FromRowStream<'_, R> {}

impl<R: FromRow> Stream for FromRowStream<'_, R> {
    type Item = Result<R>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<R>>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        let row = match ready!(this.rows.poll_next_unpin(cx)) {
            None => return Poll::Ready(None),
            Some(row) => row,
        };
        let decoded = row.and_then(|row| {
            let columns = match this.columns.take() {
                Some(columns) => columns,
                None => R::resolve(&row)?,
            };
            let decoded = R::decode(&row, &columns);
            this.columns = Some(columns);
            decoded
        });
        this.failed = decoded.is_err();
        Poll::Ready(Some(decoded))
    }
}
