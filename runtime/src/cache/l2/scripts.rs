//! The Lua scripts of the L2 store: the fills and the invalidation, each
//! run atomically on the server. Reads need no script: one `MGET` of a
//! table's generations and the entry under the generation last seen is a
//! consistent snapshot (see `entries.rs`).
//!
//! Keys: `{<base>:<table>}:wgen` and `:rgen` (the generations),
//! `{..}:r<rgen>:<row>` (a row), `{..}:q<wgen>:<query hash>` (a list), where
//! `<base>` is `<prefix>:e<epoch>` (see `lease/`). The braces are a Redis
//! Cluster hash tag: every key of one table lives in one slot, so each
//! script's keys do. Every key a script touches is passed in `KEYS`, never
//! built from `ARGV` on the server (Redis Cluster routes by `KEYS`): a key
//! that depends on a generation is built by the client from the
//! generation it last saw, and the script checks that generation first.

use redis::Script;

/// Lua shared by the scripts that write: `keep(key, secs)` makes an
/// existing key live at least `secs` more (a key without a TTL gets one).
const KEEP: &str = r"
local function keep(k, s)
  local t = redis.call('TTL', k)
  if t ~= -2 and t < tonumber(s) then redis.call('EXPIRE', k, s) end
end
";

/// `KEYS`: wgen, rgen, then each row's key under the row generation the
/// client saw. `ARGV`: wgen snapshot, ttl secs, that row generation, then
/// one value per row key. Stores them only if no write happened since the
/// snapshot and the row generation is still the one the keys were built
/// from; returns 1 if stored.
const SET_ROWS: &str = r"
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[3] then return 0 end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1], 'EX', ARGV[2])
end
return 1
";

/// `KEYS`: wgen, the list's key under the wgen snapshot. `ARGV`: the
/// snapshot, ttl secs, value. Stores it only if no write happened since.
const SET_LIST: &str = r"
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
keep(KEYS[1], ARGV[2] + 60)
return 1
";

/// `KEYS`: wgen, rgen, the row's key under the row generation the client
/// saw. `ARGV`: mode (`row`, `lists`, `all`), that row generation, message,
/// channel, and how long a generation it bumps must live at least.
///
/// Bumps the write generation (every cached list goes stale), drops the row
/// (`row`) or bumps the row generation (`all`, and `row` when the row
/// generation moved since the client saw it: the row's key is then
/// another, and dropping every row is the safe superset), and tells the
/// other processes. Returns `{subscribers reached, row generation now}`.
const INVALIDATE: &str = r"
redis.call('INCR', KEYS[1])
keep(KEYS[1], ARGV[5])
local rgen = redis.call('GET', KEYS[2]) or '0'
if ARGV[1] == 'all' or (ARGV[1] == 'row' and rgen ~= ARGV[2]) then
  rgen = tostring(redis.call('INCR', KEYS[2]))
  keep(KEYS[2], ARGV[5])
elseif ARGV[1] == 'row' then
  redis.call('DEL', KEYS[3])
end
return {redis.call('PUBLISH', ARGV[4], ARGV[3]), rgen}
";

/// The scripts; each is sent by its SHA (`EVALSHA`), loaded on first use.
pub(super) struct Scripts {
    pub(super) set_rows: Script,
    pub(super) set_list: Script,
    pub(super) invalidate: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            set_rows: Script::new(SET_ROWS),
            set_list: Script::new(&format!("{KEEP}{SET_LIST}")),
            invalidate: Script::new(&format!("{KEEP}{INVALIDATE}")),
        }
    }
}

/// `{<base>:<table>}`: the hash tag every key of `table` starts with.
pub(super) fn tag(base: &str, table: &str) -> String {
    let mut t = String::with_capacity(base.len() + table.len() + 3);
    push_tag(&mut t, base, table);
    t
}

/// Appends `{<base>:<table>}` to `out`.
pub(super) fn push_tag(out: &mut String, base: &str, table: &str) {
    out.push('{');
    out.push_str(base);
    out.push(':');
    out.push_str(table);
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash tag Redis Cluster hashes: between the first `{` and the
    /// first `}` after it.
    fn hashed(key: &str) -> &str {
        let open = key.find('{').expect("a tag");
        let close = key[open + 1..].find('}').expect("a closing brace") + open + 1;
        &key[open + 1..close]
    }

    #[test]
    fn every_key_a_script_touches_comes_from_keys() {
        for (name, script) in [
            ("SET_ROWS", SET_ROWS),
            ("SET_LIST", SET_LIST),
            ("INVALIDATE", INVALIDATE),
            ("KEEP", KEEP),
        ] {
            for call in script.split("redis.call(").skip(1) {
                let (command, rest) = call.split_once(',').expect("a command and its arguments");
                let first = rest.trim_start();
                // `keep(k, ..)`'s `k` is checked at each call below.
                let keyed =
                    first.starts_with("KEYS[") || (name == "KEEP" && first.starts_with('k'));
                // PUBLISH's first argument is a channel, not a key.
                assert!(
                    keyed || command == "'PUBLISH'",
                    "{name}: {command} on {first:.30} is not a key from KEYS"
                );
            }
            for call in script.split("keep(").skip(1).filter(|_| name != "KEEP") {
                assert!(call.starts_with("KEYS["), "{name}: keep({call:.20}");
            }
        }
    }

    #[test]
    fn a_tables_keys_share_one_hash_tag() {
        let base = "app:db:public:e7";
        let t = tag(base, "\"public\".\"users\"");
        let keys = [
            format!("{t}:wgen"),
            format!("{t}:rgen"),
            format!("{t}:r3:42"),
            format!("{t}:q9:abc"),
        ];
        for k in &keys {
            assert_eq!(hashed(k), "app:db:public:e7:\"public\".\"users\"");
        }
    }
}
