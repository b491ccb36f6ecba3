//! The **guard** stage's input limits: what the protocol cannot carry is
//! refused before anything is sent, and the connection stays usable.

use crate::error::{Error, Result};
use crate::executor::{Executor, Params};
use crate::observe::counters::bump;

/// The PostgreSQL protocol's limit on bind parameters (a 16-bit count).
pub(crate) const MAX_PARAMS: usize = 65_535;

/// The largest message PostgreSQL reads (`PQ_LARGE_MESSAGE_LIMIT`, 1 GiB
/// less the allocator's slack), less the message header and the statement
/// name: SQL longer than this is refused before it is sent.
pub(crate) const MAX_SQL_BYTES: usize = (1 << 30) - 64;

/// More parameters, or more SQL, than one message carries.
pub(super) fn check_sizes(sql: &str, params: Params<'_>) -> Result<()> {
    if params.len() > MAX_PARAMS {
        return Err(Error::InvalidInput {
            reason: format!(
                "{} parameters; the PostgreSQL protocol carries at most {MAX_PARAMS}",
                params.len()
            ),
        });
    }
    if sql.len() > MAX_SQL_BYTES {
        return Err(Error::InvalidInput {
            reason: format!(
                "a {} byte statement; PostgreSQL accepts at most {MAX_SQL_BYTES} bytes of SQL \
                 in one message (pass large values as parameters)",
                sql.len()
            ),
        });
    }
    Ok(())
}

/// A parameter count that does not match the prepared statement.
pub(super) fn check_count(expected: usize, given: usize) -> Result<()> {
    if expected == given {
        return Ok(());
    }
    Err(Error::InvalidInput {
        reason: format!("the statement takes {expected} parameters, {given} were given"),
    })
}

/// A text or `jsonb` parameter holding a NUL: refused before sending,
/// naming the column it binds where the SQL says.
pub(super) fn nul_refused(sql: &str, index: usize) -> Error {
    let n = u32::try_from(index + 1).unwrap_or(u32::MAX);
    let what = match crate::sql::values::column_of(sql, n) {
        Some(column) => format!("column `{column}` (parameter ${n})"),
        None => format!("parameter ${n}"),
    };
    Error::InvalidInput {
        reason: format!(
            "the value for {what} holds a NUL character (\\0 or \\u0000), which PostgreSQL \
             cannot store in text or jsonb; remove it, or store the value as bytea"
        ),
    }
}

/// A NUL in row `row`'s column `column` of a `COPY`.
pub(super) fn nul_in_copy(row: usize, column: &str) -> Error {
    Error::InvalidInput {
        reason: format!(
            "the value for column `[{row}].{column}` holds a NUL character, which PostgreSQL \
             cannot store in text or jsonb; remove it, or store the value as bytea"
        ),
    }
}

/// Counts input refused before a statement was built (a foreign cursor,
/// page 0, ..) as a failed statement, as the pipeline counts its own.
pub(crate) fn counted<E: Executor + ?Sized, T>(e: &E, result: Result<T>) -> Result<T> {
    if let Err(err) = &result {
        let counters = &e.__db().inner.counters;
        bump(&counters.queries);
        counters.failed(err);
    }
    result
}
