//! The Lua scripts of the L2 store, one per operation. Each runs
//! atomically on the server, reading the model's generation counters
//! together with the entries it gets or sets; the fills compare the write
//! generation they were given with the current one, which is what keeps a
//! stale fill out.
//!
//! Keys: `<base>:<table>:wgen` and `:rgen` (the generations),
//! `:r<rgen>:<row>` (a row), `:q<wgen>:<query hash>` (a list), where
//! `<base>` is `<prefix>:e<epoch>` (see `lease/`): the scripts' first
//! argument.

use redis::Script;

/// Lua shared by the scripts that write: `keep(key, secs)` makes an
/// existing key live at least `secs` more (a key without a TTL gets one).
const KEEP: &str = r"
local function keep(k, s)
  local t = redis.call('TTL', k)
  if t ~= -2 and t < tonumber(s) then redis.call('EXPIRE', k, s) end
end
";

/// `KEYS`: none. `ARGV`: base, table, row key. Returns
/// `{wgen, value-or-false}` for the row under the current row generation.
const GET_ROW: &str = r"
local base = ARGV[1] .. ':' .. ARGV[2]
local rgen = redis.call('GET', base .. ':rgen') or '0'
local wgen = redis.call('GET', base .. ':wgen') or '0'
return {wgen, redis.call('GET', base .. ':r' .. rgen .. ':' .. ARGV[3])}
";

/// `ARGV`: base, table, row keys... Returns `{wgen, v1, v2, ...}`.
const GET_ROWS: &str = r"
local base = ARGV[1] .. ':' .. ARGV[2]
local rgen = redis.call('GET', base .. ':rgen') or '0'
local out = {redis.call('GET', base .. ':wgen') or '0'}
for i = 3, #ARGV do
  out[#out + 1] = redis.call('GET', base .. ':r' .. rgen .. ':' .. ARGV[i])
end
return out
";

/// `ARGV`: base, table, wgen snapshot, ttl secs, then (row key, value)
/// pairs. Stores them only if no write happened since the snapshot.
const SET_ROWS: &str = r"
local base = ARGV[1] .. ':' .. ARGV[2]
if (redis.call('GET', base .. ':wgen') or '0') ~= ARGV[3] then return 0 end
local rgen = redis.call('GET', base .. ':rgen') or '0'
for i = 5, #ARGV, 2 do
  redis.call('SET', base .. ':r' .. rgen .. ':' .. ARGV[i], ARGV[i + 1], 'EX', ARGV[4])
end
return 1
";

/// `ARGV`: base, table, query hash. Returns `{wgen, value-or-false}`.
const GET_LIST: &str = r"
local base = ARGV[1] .. ':' .. ARGV[2]
local wgen = redis.call('GET', base .. ':wgen') or '0'
return {wgen, redis.call('GET', base .. ':q' .. wgen .. ':' .. ARGV[3])}
";

/// `ARGV`: base, table, wgen snapshot, ttl, query hash, value.
const SET_LIST: &str = r"
local base = ARGV[1] .. ':' .. ARGV[2]
if (redis.call('GET', base .. ':wgen') or '0') ~= ARGV[3] then return 0 end
redis.call('SET', base .. ':q' .. ARGV[3] .. ':' .. ARGV[5], ARGV[6], 'EX', ARGV[4])
keep(base .. ':wgen', ARGV[4] + 60)
return 1
";

/// `ARGV`: base, table, mode (`row`, `lists`, `all`), row key, message,
/// channel, and how long a generation it bumps must live at least.
/// Bumps the write generation (every cached list goes stale), drops the row
/// (`row`) or bumps the row generation (`all`), and tells the other
/// processes; returns how many subscribers received the message.
const INVALIDATE: &str = r"
local base = ARGV[1] .. ':' .. ARGV[2]
redis.call('INCR', base .. ':wgen')
keep(base .. ':wgen', ARGV[7])
if ARGV[3] == 'all' then
  redis.call('INCR', base .. ':rgen')
  keep(base .. ':rgen', ARGV[7])
elseif ARGV[3] == 'row' then
  local rgen = redis.call('GET', base .. ':rgen') or '0'
  redis.call('DEL', base .. ':r' .. rgen .. ':' .. ARGV[4])
end
return redis.call('PUBLISH', ARGV[6], ARGV[5])
";

/// The scripts; each is sent by its SHA (`EVALSHA`), loaded on first use.
pub(super) struct Scripts {
    pub(super) get_row: Script,
    pub(super) get_rows: Script,
    pub(super) set_rows: Script,
    pub(super) get_list: Script,
    pub(super) set_list: Script,
    pub(super) invalidate: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Scripts {
            get_row: Script::new(GET_ROW),
            get_rows: Script::new(GET_ROWS),
            set_rows: Script::new(&format!("{KEEP}{SET_ROWS}")),
            get_list: Script::new(GET_LIST),
            set_list: Script::new(&format!("{KEEP}{SET_LIST}")),
            invalidate: Script::new(&format!("{KEEP}{INVALIDATE}")),
        }
    }
}
