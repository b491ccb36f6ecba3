//! The model cache's reads and fills in Redis: rows, many rows and lists,
//! each under the epoch it was snapshotted with.
//!
//! A read is one `MGET` of the table's generations and the entries under
//! the generation last seen: `MGET` is atomic and its keys share the
//! table's hash tag (one slot on Redis Cluster), so the values are one
//! consistent snapshot. When the generation read back is another, it is
//! remembered and the read repeated; a generation that keeps moving gives
//! a miss, which the fill's own checks make safe (it stores nothing over a
//! newer write).

use std::time::Duration;

use super::scripts::push_tag;
use super::{Entry, L2, Snap};
use crate::cache::CacheCounters;

/// Reads repeated when a generation moved between two of them.
const TRIES: usize = 3;

/// The keys of one `MGET`, in one buffer.
struct Keys {
    text: String,
    ends: Vec<usize>,
}

impl Keys {
    /// Keys under `{<base>:<table>}`, built by `tails`.
    fn new(base: &str, table: &str, tails: &[&dyn Fn(&mut String)]) -> Keys {
        let mut text = String::with_capacity((base.len() + table.len() + 24) * tails.len());
        let mut ends = Vec::with_capacity(tails.len());
        for tail in tails {
            push_tag(&mut text, base, table);
            tail(&mut text);
            ends.push(text.len());
        }
        Keys { text, ends }
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter()).map(|(s, &e)| &self.text[s..e])
    }
}

/// A generation as Redis holds it: absent is 0.
fn generation(value: Option<&str>) -> Option<u64> {
    value.map_or(Some(0), |v| v.parse().ok())
}

impl L2 {
    /// One `MGET` of `keys` under `epoch`.
    async fn mget<T: redis::FromRedisValue>(
        &self,
        counters: &CacheCounters,
        epoch: u64,
        keys: &Keys,
    ) -> Option<T> {
        let keys: Vec<&str> = keys.iter().collect();
        let route = super::Route::Key(keys.first().copied().unwrap_or_default());
        self.call(
            "MGET",
            counters,
            Some(epoch),
            route,
            |mut conn| async move { redis::cmd("MGET").arg(keys).query_async(&mut conn).await },
        )
        .await
    }

    /// `(wgen, bytes)` of one row: `MGET` of the row generation, the write
    /// generation and the row under the row generation last seen.
    pub(crate) async fn get_row(
        &self,
        epoch: u64,
        table: &str,
        row: &str,
        counters: &CacheCounters,
    ) -> Option<Entry> {
        use std::fmt::Write as _;
        let mut wgen = None;
        for _ in 0..TRIES {
            let rgen = self.row_gen(table);
            let keys = self.with_base(epoch, |base| {
                Keys::new(
                    base,
                    table,
                    &[&|k| k.push_str(":rgen"), &|k| k.push_str(":wgen"), &|k| {
                        let _ = write!(k, ":r{rgen}:{row}");
                    }],
                )
            });
            let (now, w, value): (Option<String>, Option<String>, Option<Vec<u8>>) =
                self.mget(counters, epoch, &keys).await?;
            let now = generation(now.as_deref())?;
            if now == rgen {
                return Some((w.unwrap_or_else(|| "0".to_owned()), value));
            }
            self.saw_row_gen(table, now);
            wgen = Some(w.unwrap_or_else(|| "0".to_owned()));
        }
        // The generation kept moving: a miss, under the last write
        // generation read (the fill checks it again).
        wgen.map(|w| (w, None))
    }

    /// `(wgen, bytes)` of a cached list: `MGET` of the write generation and
    /// the list under the write generation last seen.
    pub(crate) async fn get_list(
        &self,
        epoch: u64,
        table: &str,
        hash: &str,
        counters: &CacheCounters,
    ) -> Option<Entry> {
        let mut now = String::new();
        for _ in 0..TRIES {
            let seen = self.list_gen(table);
            let keys = self.with_base(epoch, |base| {
                Keys::new(
                    base,
                    table,
                    &[&|k| k.push_str(":wgen"), &|k| {
                        k.push_str(":q");
                        k.push_str(&seen);
                        k.push(':');
                        k.push_str(hash);
                    }],
                )
            });
            let (w, value): (Option<String>, Option<Vec<u8>>) =
                self.mget(counters, epoch, &keys).await?;
            now = w.unwrap_or_else(|| "0".to_owned());
            if now == seen {
                return Some((now, value));
            }
            self.saw_list_gen(table, &now);
        }
        Some((now, None))
    }

    /// The row generation of `table` last seen in Redis (0 before any).
    pub(super) fn row_gen(&self, table: &str) -> u64 {
        self.row_gens
            .read()
            .ok()
            .and_then(|gens| gens.get(table).copied())
            .unwrap_or(0)
    }

    /// Remembers the row generation of `table` Redis answered with.
    pub(super) fn saw_row_gen(&self, table: &str, rgen: u64) {
        if let Ok(mut gens) = self.row_gens.write() {
            gens.insert(table.to_owned(), rgen);
        }
    }

    /// The write generation of `table` last seen in Redis ("0" before any).
    fn list_gen(&self, table: &str) -> String {
        self.list_gens
            .read()
            .ok()
            .and_then(|gens| gens.get(table).cloned())
            .unwrap_or_else(|| "0".to_owned())
    }

    fn saw_list_gen(&self, table: &str, wgen: &str) {
        if let Ok(mut gens) = self.list_gens.write() {
            gens.insert(table.to_owned(), wgen.to_owned());
        }
    }

    /// `(wgen, [bytes])` of many rows, in one round trip per try.
    pub(crate) async fn get_rows(
        &self,
        epoch: u64,
        table: &str,
        rows: &[String],
        counters: &CacheCounters,
    ) -> Option<(String, Vec<Option<Vec<u8>>>)> {
        use std::fmt::Write as _;
        let mut wgen = String::from("0");
        for _ in 0..TRIES {
            let rgen = self.row_gen(table);
            let keys = self.with_base(epoch, |base| {
                let mut keys = Keys::new(
                    base,
                    table,
                    &[&|k| k.push_str(":rgen"), &|k| k.push_str(":wgen")],
                );
                for r in rows {
                    push_tag(&mut keys.text, base, table);
                    let _ = write!(keys.text, ":r{rgen}:{r}");
                    keys.ends.push(keys.text.len());
                }
                keys
            });
            let mut out: Vec<Option<Vec<u8>>> = self.mget(counters, epoch, &keys).await?;
            let mut head = out.drain(..2.min(out.len()));
            let now = head.next().flatten();
            let w = head.next().flatten();
            drop(head);
            let now = generation(now.as_deref().and_then(|b| std::str::from_utf8(b).ok()))?;
            wgen = w
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_else(|| "0".to_owned());
            if now == rgen {
                return Some((wgen, out));
            }
            self.saw_row_gen(table, now);
        }
        Some((wgen, vec![None; rows.len()]))
    }

    /// Stores rows if the write generation of epoch `snap.0` is still
    /// `snap.1` and the row generation the keys are built from is current.
    pub(crate) async fn set_rows(
        &self,
        table: &str,
        (epoch, wgen): &Snap,
        ttl: Duration,
        rows: &[(String, Vec<u8>)],
        counters: &CacheCounters,
    ) -> bool {
        if rows.is_empty() {
            return true;
        }
        self.stored_for(ttl);
        let rgen = self.row_gen(table);
        let tag = &self.with_base(*epoch, |base| super::scripts::tag(base, table));
        self.call(
            "EVALSHA set_rows",
            counters,
            Some(*epoch),
            super::Route::Key(tag),
            |mut conn| async move {
                let mut inv = self.scripts.set_rows.key(format!("{tag}:wgen"));
                inv.key(format!("{tag}:rgen"));
                inv.arg(wgen).arg(ttl.as_secs().max(1)).arg(rgen);
                for (k, v) in rows {
                    inv.key(format!("{tag}:r{rgen}:{k}")).arg(v.as_slice());
                }
                inv.invoke_async::<i64>(&mut conn).await
            },
        )
        .await
            == Some(1)
    }

    /// Stores a list if the write generation of epoch `snap.0` is still `snap.1`.
    pub(crate) async fn set_list(
        &self,
        table: &str,
        (epoch, wgen): &Snap,
        ttl: Duration,
        (hash, bytes): (&str, &[u8]),
        counters: &CacheCounters,
    ) -> bool {
        self.stored_for(ttl);
        let tag = &self.with_base(*epoch, |base| super::scripts::tag(base, table));
        self.call(
            "EVALSHA set_list",
            counters,
            Some(*epoch),
            super::Route::Key(tag),
            |mut conn| async move {
                self.scripts
                    .set_list
                    .key(format!("{tag}:wgen"))
                    .key(format!("{tag}:q{wgen}:{hash}"))
                    .arg(wgen)
                    .arg(ttl.as_secs().max(1))
                    .arg(bytes)
                    .invoke_async::<i64>(&mut conn)
                    .await
            },
        )
        .await
            == Some(1)
    }
}
