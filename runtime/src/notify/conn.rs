//! The listener's connection: opened from the `Db`'s config, driven by a
//! task of its own that forwards notifications, and `LISTEN`ing on every
//! channel before it is used.

use std::sync::atomic::Ordering;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, Notification};

use super::Hub;
use crate::error::{Error, TimeoutKind};
use crate::sql::ident::quote;

/// `'strata_' || md5(quote_ident(schema) || '.' || quote_ident(table))`,
/// the channel the trigger functions send on: 39 bytes whatever the
/// names' lengths (identifiers are cut at 63).
pub(super) const RESOLVE: &str = "SELECT 'strata_' || md5(quote_ident(n.nspname) || '.' || quote_ident(c.relname)) \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)";

/// How many of the feed's triggers the table has, enabled.
pub(super) const TRIGGERS: &str = "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1) \
     AND tgname IN ('strata_changes_i', 'strata_changes_u', 'strata_changes_d', 'strata_changes_t') \
     AND tgenabled <> 'D'";

/// One open connection: the client, its notifications, and the task
/// that drives it (aborted on drop, which closes the connection).
pub(super) struct Live {
    pub(super) client: Client,
    pub(super) notes: mpsc::UnboundedReceiver<Notification>,
    driver: tokio::task::JoinHandle<()>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Connects, records the backend pid and listens on `channels`, each
/// step bounded by the connect timeout.
pub(super) async fn connect(hub: &Hub, channels: Vec<String>) -> Result<Live, Error> {
    let bound = hub.connect_timeout;
    // The pool's TLS (a plaintext `connect(NoTls)` would fail closed).
    let (client, mut messages) =
        tokio::time::timeout(bound, crate::tls::connect(&hub.pg, &hub.tls))
            .await
            .map_err(|_| Error::Timeout {
                kind: TimeoutKind::Connect,
                source: None,
            })??;
    let (tx, notes) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message
                && tx.send(n).is_err()
            {
                return;
            }
        }
    });
    let live = Live {
        client,
        notes,
        driver,
    };
    let mut sql = String::from("SELECT pg_backend_pid();");
    for channel in channels {
        sql.push_str(&format!("LISTEN {};", quote(&channel)));
    }
    let answer = tokio::time::timeout(bound, live.client.simple_query(&sql))
        .await
        .map_err(|_| Error::Timeout {
            kind: TimeoutKind::Statement,
            source: None,
        })?
        .map_err(Error::from_pg)?;
    let pid = answer.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).and_then(|p| p.parse().ok()),
        _ => None,
    });
    hub.counters.pid.store(pid.unwrap_or(0), Ordering::Relaxed);
    Ok(live)
}
