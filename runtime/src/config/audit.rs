//! The audit log's policy for a write with no actor, as every pooled
//! connection carries it (`strata::audit` reads it back in the trigger).

/// The session setting of the pool's [`WithoutActor`] policy.
pub(crate) const POLICY_SETTING: &str = "strata.audit_without_actor";

/// The session setting of [`WithoutActor::System`]'s actor.
/// The setting the trigger reads the actor from; `with_actor` sets it with
/// `set_config(.., true)`, so it ends with the transaction.
pub const ACTOR_SETTING: &str = "strata.actor";

pub(crate) const SYSTEM_ACTOR_SETTING: &str = "strata.audit_system_actor";

/// What a write of an audited table does when no actor is in context
/// ([`Config::audit_without_actor`](crate::Config::audit_without_actor)).
///
/// The policy travels with every pooled connection as a session setting
/// the trigger reads, so it holds on every path that writes, raw SQL and
/// `COPY` included. A session outside strata (`psql`, a DBA's fix) has no
/// policy: its changes are recorded with no actor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum WithoutActor {
    /// The trigger refuses the write ([`Error::NoActor`](crate::Error::NoActor)); nothing is
    /// written. The default: an audit log that says "someone" is not one.
    #[default]
    Refuse,
    /// The write is recorded with this actor (`"system"`, `"worker:billing"`).
    System(String),
}

/// The startup `-c` options that carry `policy` to every pooled
/// connection. The server splits `options` on spaces; a backslash escapes
/// one.
pub(crate) fn session_options(policy: &WithoutActor) -> String {
    match policy {
        WithoutActor::Refuse => format!("-c {POLICY_SETTING}=refuse"),
        WithoutActor::System(actor) => {
            let escaped = actor.replace('\\', "\\\\").replace(' ', "\\ ");
            format!("-c {POLICY_SETTING}=system -c {SYSTEM_ACTOR_SETTING}={escaped}")
        }
    }
}
