//! Redis Cluster routing: which slot a key hashes to, and which master
//! serves a slot, read from the cluster itself (`CLUSTER SLOTS`).
//!
//! strata routes its own commands instead of using a cluster client that
//! follows redirects on its own: every model-cache operation touches one
//! hash tag, so it goes to one node, and the store must know *which* node
//! answered, because a connection to a node is trusted only once that
//! node's identity (its `run_id` and replication id) was checked against
//! the epoch (see `lease/`). A client that silently followed a `MOVED` to a
//! promoted replica would read entries that may have missed invalidations
//! the old master acknowledged. So a redirect here is never followed: it
//! marks the map stale, the call falls through to PostgreSQL, and the next
//! call goes, through a new and checked connection, to the node the
//! refreshed map names.

use redis::Value;

/// Slots in a Redis Cluster.
const SLOTS: u16 = 16384;

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), Redis
/// Cluster's key hash.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The slot of `key`: the hash of its tag (what lies between its first `{`
/// and the next `}`, when that is not empty), else of the whole key.
pub(crate) fn slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(bytes);
    crc16(hashed) % SLOTS
}

/// A node's address as the cluster reports it.
pub(crate) type Addr = (String, u16);

/// Which master serves each slot, as one node reported it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Topology {
    /// `(first slot, last slot, master)`, sorted by first slot.
    ranges: Vec<(u16, u16, Addr)>,
    /// Every node named (masters, then replicas), for subscriptions.
    nodes: Vec<Addr>,
}

impl Topology {
    /// Reads a `CLUSTER SLOTS` reply; `None` if it is not one or covers no
    /// slot (a cluster still forming).
    pub(crate) fn parse(reply: &Value) -> Option<Topology> {
        let Value::Array(entries) = reply else {
            return None;
        };
        let mut topology = Topology::default();
        let mut replicas = Vec::new();
        for entry in entries {
            let Value::Array(fields) = entry else {
                return None;
            };
            let (Some(Value::Int(first)), Some(Value::Int(last))) = (fields.first(), fields.get(1))
            else {
                return None;
            };
            let mut nodes = fields[2..].iter().map(node_addr);
            let master = nodes.next().flatten()?;
            replicas.extend(nodes.flatten());
            let (first, last) = (u16::try_from(*first).ok()?, u16::try_from(*last).ok()?);
            if !topology.nodes.contains(&master) {
                topology.nodes.push(master.clone());
            }
            topology.ranges.push((first, last, master));
        }
        for replica in replicas {
            if !topology.nodes.contains(&replica) {
                topology.nodes.push(replica);
            }
        }
        topology.ranges.sort_by_key(|r| r.0);
        (!topology.ranges.is_empty()).then_some(topology)
    }

    /// The master serving `slot`, if any does.
    pub(crate) fn master(&self, slot: u16) -> Option<&Addr> {
        let i = self
            .ranges
            .partition_point(|r| r.0 <= slot)
            .checked_sub(1)?;
        let (_, last, addr) = &self.ranges[i];
        (slot <= *last).then_some(addr)
    }

    /// Every master, once each.
    pub(crate) fn masters(&self) -> Vec<Addr> {
        let mut out: Vec<Addr> = Vec::new();
        for (_, _, addr) in &self.ranges {
            if !out.contains(addr) {
                out.push(addr.clone());
            }
        }
        out
    }

    /// Every node named, masters first.
    pub(crate) fn nodes(&self) -> &[Addr] {
        &self.nodes
    }
}

/// `[ip, port, id, ..]` of a `CLUSTER SLOTS` entry.
fn node_addr(v: &Value) -> Option<Addr> {
    let Value::Array(parts) = v else { return None };
    let host = match parts.first()? {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
        Value::SimpleString(s) => s.clone(),
        _ => return None,
    };
    let Value::Int(port) = parts.get(1)? else {
        return None;
    };
    // An empty host means "the address you reached me on"; `?` a node whose
    // address is unknown. Neither can be dialled from the map alone.
    (!host.is_empty() && host != "?").then_some((host, u16::try_from(*port).ok()?))
}

/// Why a connection made as a standalone Redis's must not be used: the
/// server is a Redis Cluster node (`redis_mode:cluster`), which answers a
/// key of another node's slot with `MOVED`. `None` if it is standalone, or
/// if it does not say (`INFO` refused or unanswered: the calls will tell).
pub(crate) async fn not_standalone(
    conn: &mut redis::aio::MultiplexedConnection,
    timeout: std::time::Duration,
) -> Option<String> {
    let info: String =
        tokio::time::timeout(timeout, redis::cmd("INFO").arg("server").query_async(conn))
            .await
            .ok()?
            .ok()?;
    info.lines()
        .any(|l| l.trim() == "redis_mode:cluster")
        .then(|| {
            "REDIS_URL names a Redis Cluster node (redis_mode:cluster): set REDIS_CLUSTER=true \
         (Config::redis_cluster) and list the nodes"
                .to_owned()
        })
}

/// The cause to report for a `CLUSTER SLOTS` that failed with `err`.
pub(crate) fn slots_failed(err: &redis::RedisError) -> String {
    if err.to_string().contains("cluster support disabled") {
        format!(
            "REDIS_URL names a standalone Redis, not a cluster node ({err}): \
             set REDIS_CLUSTER=false (Config::redis_cluster)"
        )
    } else {
        format!("CLUSTER SLOTS failed: {err}")
    }
}

/// Whether `err` says the cluster moved or is moving the slot, or cannot
/// serve it now: the map must be read again.
pub(crate) fn is_redirect(err: &redis::RedisError) -> bool {
    matches!(
        err.code(),
        Some("MOVED" | "ASK" | "TRYAGAIN" | "CLUSTERDOWN")
    )
}

/// The node identity the epoch is checked against: its `run_id` (a restart
/// changes it) and its replication id (a promotion changes it), from an
/// `INFO server replication` reply; `None` unless the node is a master.
pub(crate) fn identity(info: &str) -> Option<String> {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    if field("role:")? != "master" {
        return None;
    }
    Some(format!(
        "{}/{}",
        field("run_id:")?,
        field("master_replid:")?
    ))
}

/// The seed URLs of a `REDIS_URL` that lists several nodes, split where a
/// comma is followed by a new `redis://` or `rediss://` (a comma inside a
/// password stays).
pub(crate) fn seeds(urls: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, _) in urls.match_indices(',') {
        let next = urls[i + 1..].trim_start();
        if next.starts_with("redis://") || next.starts_with("rediss://") {
            out.push(urls[start..i].trim());
            start = i + 1;
        }
    }
    out.push(urls[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known values (Redis's own test vector and `CLUSTER KEYSLOT`
    /// answers); the integration tests check more against a live cluster.
    #[test]
    fn slots_follow_redis() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("user1000"));
        assert_eq!(slot("foo{}{bar}"), slot("foo{}{bar}"));
        assert_ne!(slot("foo{}{bar}"), slot("bar"), "an empty tag hashes all");
        assert_eq!(slot("foo{{bar}}zap"), slot("{bar"));
        assert_eq!(slot("foo{bar}{zap}"), slot("bar"));
    }

    #[test]
    fn a_map_names_the_master_of_every_slot() {
        let node = |host: &str, port| {
            Value::Array(vec![
                Value::BulkString(host.into()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                node("10.0.0.2", 7001),
                node("10.0.0.5", 7004),
            ]),
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("10.0.0.1", 7000),
            ]),
        ]);
        let t = Topology::parse(&reply).expect("a map");
        assert_eq!(t.master(0), Some(&("10.0.0.1".into(), 7000)));
        assert_eq!(t.master(5460), Some(&("10.0.0.1".into(), 7000)));
        assert_eq!(t.master(5461), Some(&("10.0.0.2".into(), 7001)));
        assert_eq!(t.master(16383), Some(&("10.0.0.2".into(), 7001)));
        assert_eq!(t.masters().len(), 2);
        assert_eq!(t.nodes().len(), 3);
        assert_eq!(Topology::parse(&Value::Array(vec![])), None);
        assert_eq!(Topology::parse(&Value::Okay), None);
    }

    #[test]
    fn identity_is_that_of_a_master() {
        let info = "# Server\r\nrun_id:abc\r\n# Replication\r\nrole:master\r\nmaster_replid:r1\r\n";
        assert_eq!(identity(info).as_deref(), Some("abc/r1"));
        assert_eq!(identity(&info.replace("role:master", "role:slave")), None);
    }

    #[test]
    fn seeds_split_on_urls_only() {
        assert_eq!(
            seeds("redis://a:1, redis://:p,w@b:2,rediss://c:3"),
            ["redis://a:1", "redis://:p,w@b:2", "rediss://c:3"]
        );
        assert_eq!(seeds("redis://a:1"), ["redis://a:1"]);
    }
}
