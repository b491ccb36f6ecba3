//! The listener task: connect, `LISTEN`, deliver, and after a loss
//! reconnect with backoff, listen again, flush L1 and send `Gap`.

use std::collections::{HashMap, VecDeque};
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::{Client, Notification};

use super::conn::{Live, RESOLVE, TRIGGERS, connect};
use super::sub::{Slot, pair};
use super::{Cmd, Hub, Raw, RowIdFn};
use crate::error::Error;
use crate::observe::counters::bump;
use crate::sql::ident::quote;

/// How often an idle listener checks that its connection still answers:
/// a silently dead connection is found within this plus the timeout.
const HEARTBEAT: Duration = Duration::from_secs(5);
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);

struct Watch {
    table: &'static str,
    row_id: RowIdFn,
}

struct Task {
    hub: Weak<Hub>,
    subs: HashMap<String, Vec<Slot>>,
    watches: HashMap<String, Vec<Watch>>,
    /// Commands taken off the queue while no connection was open.
    pending: VecDeque<Cmd>,
}

enum End {
    /// The `Db` is gone, or nothing is subscribed any more.
    Exit,
    Lost,
}

pub(super) async fn run(hub: Weak<Hub>, mut rx: mpsc::UnboundedReceiver<Cmd>) {
    let mut task = Task {
        hub,
        subs: HashMap::new(),
        watches: HashMap::new(),
        pending: VecDeque::new(),
    };
    let mut first = true;
    let mut delay = Duration::from_millis(25);
    loop {
        let Some(hub) = task.hub.upgrade() else {
            return;
        };
        if hub.is_closed() {
            return;
        }
        let live = match connect(&hub, task.channels()).await {
            Ok(live) => live,
            Err(e) => {
                drop(hub);
                tracing::debug!(error = %e, "change feed listener: connect failed");
                // A subscriber that gave up waiting needs no connection.
                while let Ok(cmd) = rx.try_recv() {
                    task.pending.push_back(cmd);
                }
                task.pending.retain(|c| match c {
                    Cmd::Subscribe { done, .. } => !done.is_closed(),
                    Cmd::Unsubscribe { .. } => false,
                    Cmd::Watch { .. } => true,
                });
                if task.pending.is_empty()
                    && task.subs.is_empty()
                    && task.watches.is_empty()
                    && task.may_exit(&rx)
                {
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        delay = Duration::from_millis(25);
        if !first {
            // Listening again on every channel: what was missed is unknown.
            bump(&hub.counters.reconnects);
            bump(&hub.counters.gaps);
            task.flush_cache(&hub);
            task.broadcast(Raw::Gap);
        }
        first = false;
        hub.counters.live.store(true, Ordering::Release);
        drop(hub);
        let end = task.serve(live, &mut rx).await;
        if let Some(hub) = task.hub.upgrade() {
            hub.counters.live.store(false, Ordering::Release);
            hub.counters.pid.store(0, Ordering::Relaxed);
            // L1 must not outlive the channel that keeps it fresh.
            task.flush_cache(&hub);
        }
        if let End::Exit = end {
            return;
        }
        tracing::warn!("change feed listener lost its connection; reconnecting");
    }
}

impl Task {
    fn channels(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .subs
            .keys()
            .chain(self.watches.keys())
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        all
    }

    fn is_listening(&self, channel: &str) -> bool {
        self.subs.get(channel).is_some_and(|s| !s.is_empty()) || self.watches.contains_key(channel)
    }

    async fn serve(&mut self, mut live: Live, rx: &mut mpsc::UnboundedReceiver<Cmd>) -> End {
        let mut beat = tokio::time::interval(HEARTBEAT);
        beat.tick().await;
        while let Some(cmd) = self.pending.pop_front() {
            if !self.handle(cmd, &live.client).await {
                return End::Lost;
            }
        }
        loop {
            tokio::select! {
                note = live.notes.recv() => match note {
                    Some(note) => self.dispatch(&note),
                    None => return End::Lost,
                },
                cmd = rx.recv() => match cmd {
                    None => return End::Exit,
                    Some(cmd) => {
                        if !self.handle(cmd, &live.client).await {
                            return End::Lost;
                        }
                    }
                },
                _ = beat.tick() => {
                    let answer = tokio::time::timeout(HEARTBEAT_TIMEOUT, live.client.simple_query("")).await;
                    if !matches!(answer, Ok(Ok(_))) {
                        return End::Lost;
                    }
                }
            }
            if self.subs.is_empty() && self.watches.is_empty() && self.may_exit(rx) {
                return End::Exit;
            }
        }
    }

    /// Stops taking commands if none is queued (under the lock senders take).
    fn may_exit(&self, rx: &mpsc::UnboundedReceiver<Cmd>) -> bool {
        let Some(hub) = self.hub.upgrade() else {
            return true;
        };
        let Ok(mut slot) = hub.cmds.lock() else {
            return true;
        };
        if rx.is_empty() {
            *slot = None;
            return true;
        }
        false
    }

    /// Runs one command; false when the connection failed under it.
    async fn handle(&mut self, cmd: Cmd, client: &Client) -> bool {
        match cmd {
            Cmd::Subscribe { qualified, done } => {
                let channel = match self.listen(client, &qualified).await {
                    Ok(channel) => channel,
                    Err(e) => {
                        let lost = e.is_transient();
                        let _ = done.send(Err(e));
                        return !lost;
                    }
                };
                let Some(hub) = self.hub.upgrade() else {
                    return true;
                };
                let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
                let (slot, sub) = pair(id, channel.clone(), self.hub.clone());
                if done.send(Ok(sub)).is_ok() {
                    self.subs.entry(channel).or_default().push(slot);
                }
            }
            Cmd::Unsubscribe { channel, id } => {
                if let Some(slots) = self.subs.get_mut(&channel) {
                    slots.retain(|s| s.id != id);
                    if slots.is_empty() {
                        self.subs.remove(&channel);
                    }
                }
                if !self.is_listening(&channel) {
                    let sql = format!("UNLISTEN {}", quote(&channel));
                    return client.batch_execute(&sql).await.is_ok();
                }
            }
            Cmd::Watch { table, row_id } => {
                let Some(hub) = self.hub.upgrade() else {
                    return true;
                };
                if hub.watched.read().is_ok_and(|w| w.contains(table)) {
                    return true;
                }
                match self.listen_with_triggers(client, table).await {
                    Ok(None) => {
                        tracing::warn!(
                            table,
                            "cache channel: the table has no change-feed triggers \
                             (db.install_changes); its rows stay out of L1"
                        );
                        if let Ok(mut r) = hub.refused.lock() {
                            r.insert(table, std::time::Instant::now());
                        }
                    }
                    Ok(Some(channel)) => {
                        self.watches
                            .entry(channel)
                            .or_default()
                            .push(Watch { table, row_id });
                        if let Ok(mut w) = hub.watched.write() {
                            w.insert(table);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(table, error = %e, "cache channel: cannot listen");
                        return !e.is_transient();
                    }
                }
            }
        }
        true
    }

    /// [`Task::listen`] for the cache channel, only if the table has its
    /// four triggers, enabled: without them L1 would never hear of a write.
    async fn listen_with_triggers(
        &self,
        client: &Client,
        table: &str,
    ) -> Result<Option<String>, Error> {
        let n: i64 = client
            .query_one(TRIGGERS, &[&table])
            .await
            .map_err(Error::from_pg)?
            .get(0);
        if n < 4 {
            return Ok(None);
        }
        self.listen(client, table).await.map(Some)
    }

    /// Resolves a table's channel and listens on it (if not already).
    async fn listen(&self, client: &Client, qualified: &str) -> Result<String, Error> {
        let row = client
            .query_opt(RESOLVE, &[&qualified])
            .await
            .map_err(Error::from_pg)?;
        let Some(row) = row else {
            return Err(Error::InvalidInput {
                reason: format!("no table {qualified} for the change feed"),
            });
        };
        let channel: String = row.get(0);
        if !self.is_listening(&channel) {
            client
                .batch_execute(&format!("LISTEN {}", quote(&channel)))
                .await
                .map_err(Error::from_pg)?;
        }
        Ok(channel)
    }

    fn dispatch(&mut self, note: &Notification) {
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        bump(&hub.counters.notifications);
        let raw = Raw::parse(note.payload());
        // L1 first: a subscriber of this Db that sees the event can rely
        // on this Db's cache no longer holding what it names.
        if let (Some(watches), Some(cache)) =
            (self.watches.get(note.channel()), hub.cache.upgrade())
        {
            for w in watches {
                match &raw {
                    Raw::Rows { keys, .. } => {
                        for key in keys {
                            match (w.row_id)(key) {
                                Some(id) => cache.invalidate_local(w.table, "row", &id),
                                None => cache.invalidate_local(w.table, "all", ""),
                            }
                        }
                    }
                    _ => cache.invalidate_local(w.table, "all", ""),
                }
            }
        }
        if let Some(slots) = self.subs.get_mut(note.channel()) {
            slots.retain(|s| s.deliver(raw.clone()));
        }
    }

    fn broadcast(&mut self, raw: Raw) {
        for slots in self.subs.values_mut() {
            slots.retain(|s| s.deliver(raw.clone()));
        }
    }

    fn flush_cache(&self, hub: &Hub) {
        if !self.watches.is_empty()
            && let Some(cache) = hub.cache.upgrade()
        {
            cache.flush_local();
        }
    }
}
