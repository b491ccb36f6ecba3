//! How an audited write outside a transaction tells the audit trigger who
//! is acting: the actor must be set in the write's own transaction, and
//! must end with it (a pooled connection never carries it on).
//!
//! Where the statement allows it, the actor rides **in** the statement, as
//! one more bound parameter: `.. RETURNING .., set_config('strata.actor',
//! $n, true)`. PostgreSQL computes `RETURNING` as each row is written and
//! fires `AFTER` row triggers at the end of the statement, so the trigger
//! reads the actor set by the same statement, and `is_local` ends the
//! setting with the statement's implicit transaction. That is one prepared
//! statement and one round trip, where `BEGIN; SELECT set_config(..)` ..
//! `COMMIT` around it costs two more simple queries to parse and run.
//!
//! The model layer says which shape its text has ([`Audited`]): it wrote
//! the text, so nothing here reads SQL. Multi-row writes keep the wrapper,
//! so a 1,000-row bulk update does not send 1,000 rows back.

use std::sync::Arc;

use super::{Op, Request};
use crate::error::Result;
use crate::executor::OpKind;

/// Whether a model statement is an audited write, and where its actor goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Audited {
    /// Not audited (or a read).
    #[default]
    No,
    /// Around it: `BEGIN; SELECT set_config(..)` .. `COMMIT`, pipelined.
    Wrap,
    /// In it: the text ends in a `RETURNING` list, which takes one more item.
    Returning,
    /// In it: the text ends where a `RETURNING` clause can follow (a
    /// single-row write by key that returns nothing).
    Bare,
}

/// How one attempt carries the current actor.
pub(super) enum Carry {
    /// Nothing to carry.
    Nothing,
    /// The statements that follow `BEGIN`.
    Wrap(String),
    /// The statement's text with the actor's placeholder, and the actor.
    Inline { sql: String, actor: Arc<str> },
}

/// How `req`, run outside a transaction, carries the actor of the task.
pub(super) fn carry(req: &Request<'_>) -> Result<Carry> {
    if req.audited == Audited::No || req.kind != OpKind::Write || matches!(req.op, Op::Copy(_)) {
        return Ok(Carry::Nothing);
    }
    let Some(actor) = crate::tx::actor::current_actor() else {
        return Ok(Carry::Nothing);
    };
    crate::tx::actor::check(&actor)?;
    // A tenant set around the statement needs the wrapper anyway.
    let inline = req.set_local.is_none() && !req.plan.read_only;
    let joint = match (req.audited, req.op) {
        (Audited::Returning, Op::Query | Op::QueryOpt) if inline => ", ",
        (Audited::Bare, Op::Execute) if inline => " RETURNING ",
        _ => return crate::tx::actor::set_actor(&actor).map(Carry::Wrap),
    };
    let n = req.params.len() + 1;
    let sql = format!(
        "{}{joint}set_config('{}', ${n}::text, true)",
        req.sql,
        crate::config::audit::ACTOR_SETTING
    );
    Ok(Carry::Inline { sql, actor })
}
