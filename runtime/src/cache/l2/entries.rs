//! The model cache's reads and fills in Redis: rows (one `MGET` when the
//! row generation is the one seen last, else a script), many rows, lists,
//! each under the epoch it was snapshotted with.

use std::time::Duration;

use redis::Script;

use super::{Entry, L2, Snap};
use crate::cache::CacheCounters;

impl L2 {
    /// `(wgen, bytes)` of one row.
    ///
    /// One `MGET` of the row generation, the write generation and the row
    /// under the row generation last seen: when the generation read back is
    /// that one, the three values are a consistent snapshot (`MGET` is
    /// atomic), exactly what the `GET_ROW` script returns, without running
    /// Lua on the server. A generation that moved is remembered and tried
    /// once more; after that the script answers.
    pub(crate) async fn get_row(
        &self,
        epoch: u64,
        table: &str,
        row: &str,
        counters: &CacheCounters,
    ) -> Option<Entry> {
        for _ in 0..2 {
            let rgen = self.row_gen(table);
            let (keys, [k1, k2, k3]) =
                self.with_base(epoch, |base| row_keys(base, table, rgen, row));
            let (now, wgen, value): (Option<String>, Option<String>, Option<Vec<u8>>) = self
                .call(counters, Some(epoch), |mut conn| async move {
                    redis::cmd("MGET")
                        .arg(&keys[k1])
                        .arg(&keys[k2])
                        .arg(&keys[k3])
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            let Some(now) = now.as_deref().map_or(Some(0), |n| n.parse::<u64>().ok()) else {
                break;
            };
            if now == rgen {
                return Some((wgen.unwrap_or_else(|| "0".to_owned()), value));
            }
            if let Ok(mut gens) = self.row_gens.write() {
                gens.insert(table.to_owned(), now);
            }
        }
        self.get_entry(&self.scripts.get_row, epoch, table, row, counters)
            .await
    }

    /// `(wgen, bytes)` of a cached list.
    pub(crate) async fn get_list(
        &self,
        epoch: u64,
        table: &str,
        hash: &str,
        counters: &CacheCounters,
    ) -> Option<Entry> {
        self.get_entry(&self.scripts.get_list, epoch, table, hash, counters)
            .await
    }

    /// Runs `GET_ROW` or `GET_LIST` (which take the same arguments).
    async fn get_entry(
        &self,
        script: &Script,
        epoch: u64,
        table: &str,
        key: &str,
        counters: &CacheCounters,
    ) -> Option<Entry> {
        let base = self.base(epoch);
        self.call(counters, Some(epoch), |mut conn| async move {
            script
                .arg(&base)
                .arg(table)
                .arg(key)
                .invoke_async::<Entry>(&mut conn)
                .await
        })
        .await
    }

    /// The row generation of `table` last seen in Redis (0 before any).
    fn row_gen(&self, table: &str) -> u64 {
        self.row_gens
            .read()
            .ok()
            .and_then(|gens| gens.get(table).copied())
            .unwrap_or(0)
    }

    /// `(wgen, [bytes])` of many rows, in one round trip.
    pub(crate) async fn get_rows(
        &self,
        epoch: u64,
        table: &str,
        rows: &[String],
        counters: &CacheCounters,
    ) -> Option<(String, Vec<Option<Vec<u8>>>)> {
        let base = self.base(epoch);
        self.call(counters, Some(epoch), |mut conn| async move {
            let mut inv = self.scripts.get_rows.arg(&base);
            inv.arg(table);
            for r in rows {
                inv.arg(r);
            }
            let mut out: Vec<redis::Value> = inv.invoke_async(&mut conn).await?;
            if out.is_empty() {
                return Ok((String::from("0"), Vec::new()));
            }
            let wgen: String = redis::FromRedisValue::from_redis_value(out.remove(0))?;
            let values = out
                .into_iter()
                .map(|v| match v {
                    redis::Value::BulkString(b) => Some(b),
                    _ => None,
                })
                .collect();
            Ok((wgen, values))
        })
        .await
    }

    /// Stores rows if the write generation of epoch `snap.0` is still `snap.1`.
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
        let base = self.base(*epoch);
        self.call(counters, Some(*epoch), |mut conn| async move {
            let mut inv = self.scripts.set_rows.arg(&base);
            inv.arg(table).arg(wgen).arg(ttl.as_secs().max(1));
            for (k, v) in rows {
                inv.arg(k).arg(v.as_slice());
            }
            inv.invoke_async::<i64>(&mut conn).await
        })
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
        let base = self.base(*epoch);
        self.call(counters, Some(*epoch), |mut conn| async move {
            self.scripts
                .set_list
                .arg(&base)
                .arg(table)
                .arg(wgen)
                .arg(ttl.as_secs().max(1))
                .arg(hash)
                .arg(bytes)
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await
            == Some(1)
    }
}

/// `<base>:rgen`, `<base>:wgen` and `<base>:r<rgen>:<row>` (the keys
/// the `GET_ROW` script reads, `<base>` being `<prefix>:e<epoch>:<table>`;
/// `prefix` is [`L2::with_base`]'s),
/// written into one buffer.
fn row_keys(
    prefix: &str,
    table: &str,
    rgen: u64,
    row: &str,
) -> (String, [std::ops::Range<usize>; 3]) {
    use std::fmt::Write as _;
    let base = prefix.len() + 1 + table.len();
    let mut keys = String::with_capacity(3 * base + row.len() + 32);
    let key = |keys: &mut String, tail: &dyn Fn(&mut String)| {
        let start = keys.len();
        keys.push_str(prefix);
        keys.push(':');
        keys.push_str(table);
        tail(keys);
        start..keys.len()
    };
    let k1 = key(&mut keys, &|k| k.push_str(":rgen"));
    let k2 = key(&mut keys, &|k| k.push_str(":wgen"));
    let k3 = key(&mut keys, &|k| {
        let _ = write!(k, ":r{rgen}:{row}");
    });
    (keys, [k1, k2, k3])
}
