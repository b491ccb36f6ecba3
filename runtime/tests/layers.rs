//! The runtime's shape, checked on every `cargo test`: its top-level
//! modules depend on each other one way only, and no source file is too
//! long to read in one sitting.
//!
//! The one permitted circle is the handle and its executor: `Db` (`pool`),
//! `Tx` (`tx`) and the tenant-scoped `TenantDb`/`TenantTx` (`tenant`)
//! implement `Executor` (`executor`), whose machinery is the statement
//! pipeline (`pipeline`), which runs on those handles. Those five count as
//! one node here. Everything else must form layers, listed in
//! docs/ARCHITECTURE.md.
//!
//! Why parse the source instead of using a tool: `cargo modules` needs a
//! rust-analyzer build on every CI run. At the granularity of top-level
//! modules a reference is always spelled `crate::name` (or a root
//! re-export such as `crate::Db`), which a small scanner reads reliably
//! once comments and string literals are gone. `pub use` statements are
//! not dependencies: a re-export only gives an item a second public path.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The handle and its executor: one node.
const HANDLE: &[&str] = &["executor", "pipeline", "pool", "tenant", "tx"];
/// No file under `src/` may be longer than this.
const MAX_LINES: usize = 450;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments, string and char literals, or a trailing
/// `#[cfg(test)] mod tests`.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'r' && b.get(i + 1).is_some_and(|&c| c == b'"' || c == b'#') {
            // Raw string: r"..", r#".."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push('r');
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            j += 1;
            while j < b.len() && !b[j..].starts_with(&close) {
                j += 1;
            }
            i = j + close.len();
            out.push_str("\"\"");
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3; // 'x'
        } else if b[i] == b'\'' && b.get(i + 1) == Some(&b'\\') {
            i += 2;
            while i < b.len() && b[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Removes `pub use ..;` and `pub(..) use ..;` statements.
fn without_reexports(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(i) = rest.find("pub") {
        let after = &rest[i + 3..];
        let after_vis = match after.strip_prefix('(') {
            Some(a) => a.find(')').map_or(after, |j| &a[j + 1..]),
            None => after,
        };
        let word_start = i == 0 || !is_ident(rest.as_bytes()[i - 1]);
        if word_start && after_vis.trim_start().starts_with("use ") {
            out.push_str(&rest[..i]);
            let end = after_vis
                .find(';')
                .map_or(rest.len(), |j| rest.len() - after_vis.len() + j + 1);
            rest = &rest[end..];
        } else {
            out.push_str(&rest[..i + 3]);
            rest = &rest[i + 3..];
        }
    }
    out.push_str(rest);
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The first path segments after each `crate::`, including each branch
/// of `crate::{a, b::c}`.
fn crate_refs(code: &str) -> Vec<String> {
    let mut refs = Vec::new();
    let b = code.as_bytes();
    let mut from = 0;
    while let Some(i) = code[from..].find("crate::") {
        let at = from + i;
        from = at + 7;
        if at > 0 && (is_ident(b[at - 1]) || b[at - 1] == b':') {
            continue;
        }
        let rest = &code[from..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut at_start = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        at_start = true;
                        continue;
                    }
                    _ => {}
                }
                if depth == 1 && at_start {
                    if c.is_alphanumeric() || c == '_' {
                        item.push(c);
                    } else if !item.is_empty() {
                        refs.push(std::mem::take(&mut item));
                        at_start = false;
                    }
                }
            }
            if !item.is_empty() {
                refs.push(item);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                refs.push(name);
            }
        }
    }
    refs
}

/// Where the crate root's re-exports come from: `Db` -> `pool`.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for stmt in lib.split(';') {
        let Some(i) = stmt.find("pub use ") else {
            continue;
        };
        let path = stmt[i + 8..].trim();
        let Some((module, items)) = path.split_once("::") else {
            continue;
        };
        if matches!(module, "crate" | "self" | "super") {
            continue; // the prelude names root items again
        }
        let items = items.rsplit("::").next().unwrap_or(items);
        for item in items.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !item.is_empty() {
                map.entry(item.to_owned())
                    .or_insert_with(|| module.to_owned());
            }
        }
    }
    map
}

struct Crate {
    /// Top-level module -> the modules it uses, with one file that does.
    uses: BTreeMap<String, BTreeMap<String, PathBuf>>,
    long_files: Vec<(PathBuf, usize)>,
}

fn scan() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let node = |name: &str| -> String {
        if HANDLE.contains(&name) {
            "handle".to_owned()
        } else if name == "__private" {
            "private".to_owned()
        } else {
            name.to_owned()
        }
    };
    let lib = code_of(&fs::read_to_string(src.join("lib.rs")).unwrap());
    let reexports = root_reexports(&lib);
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| f.strip_prefix(&src).ok())
        .filter_map(|rel| rel.components().next())
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .filter(|m| m != "lib")
        .collect();
    let mut uses: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    let mut long_files = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let lines = text.lines().count();
        if lines > MAX_LINES {
            long_files.push((file.clone(), lines));
        }
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" {
            continue;
        }
        let from = node(&top);
        for name in crate_refs(&without_reexports(&code_of(&text))) {
            let target = if modules.contains(&name) {
                name
            } else if let Some(m) = reexports.get(&name).filter(|m| modules.contains(*m)) {
                m.clone()
            } else {
                continue; // the crate root itself, or a macro-only name
            };
            let to = node(&target);
            if to != from {
                uses.entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| rel.to_path_buf());
            }
        }
    }
    Crate { uses, long_files }
}

/// A cycle through `start`, if there is one.
fn cycle_from(
    uses: &BTreeMap<String, BTreeMap<String, PathBuf>>,
    start: &str,
) -> Option<Vec<String>> {
    fn walk(
        uses: &BTreeMap<String, BTreeMap<String, PathBuf>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in uses.get(at).into_iter().flat_map(|m| m.keys()) {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(uses, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    let mut seen = BTreeSet::new();
    walk(uses, start, start, &mut path, &mut seen).then_some(path)
}

#[test]
fn top_level_modules_depend_one_way() {
    let krate = scan();
    let mut cycles = Vec::new();
    for module in krate.uses.keys() {
        if let Some(cycle) = cycle_from(&krate.uses, module) {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    let via = &krate.uses[&w[0]][&w[1]];
                    format!("{} -> {} (src/{})", w[0], w[1], via.display())
                })
                .collect();
            cycles.push(steps.join("\n    "));
        }
    }
    assert!(
        cycles.is_empty(),
        "import circles between top-level modules (only the handle group {HANDLE:?} may use each other):\n  {}",
        cycles.join("\n  ")
    );
}

#[test]
fn no_source_file_is_over_the_limit() {
    let krate = scan();
    assert!(
        krate.long_files.is_empty(),
        "files over {MAX_LINES} lines: {:?}",
        krate.long_files
    );
}

#[test]
fn the_scanner_sees_what_it_must() {
    // A scanner that saw nothing would pass the circle test: check it on
    // spellings the source uses, and on what it must skip.
    let code = code_of(
        "use crate::{cache::{Invalidation, row_id}, error::Result};\n\
         // crate::commented\n\
         let s = \"crate::in_a_string\";\n\
         /* crate::block /* nested */ crate::still_block */\n\
         pub use crate::reexported::Item;\n\
         pub(crate) use crate::{also_reexported};\n\
         fn f() -> crate::observe::Metrics { crate::Db::x() }",
    );
    let refs = crate_refs(&without_reexports(&code));
    assert_eq!(refs, ["cache", "error", "observe", "Db"]);
    let krate = scan();
    assert!(
        krate
            .uses
            .get("cache")
            .is_some_and(|u| u.contains_key("observe")),
        "the cache records into observe's counters: the scan must see it"
    );
    assert!(
        krate
            .uses
            .get("model")
            .is_some_and(|u| u.contains_key("handle")),
        "models run through the executor: the scan must see it"
    );
}
