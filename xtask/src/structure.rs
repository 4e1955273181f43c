//! `cargo xtask structure`: the layering rules the code promises (STYLE.md),
//! checked from the sources so a change that breaks them fails CI.
//!
//! - No module imports another module that imports it back (directly or
//!   through others), in the crates listed in [`ACYCLIC_CRATES`].
//! - `Profile` has at most [`PROFILE_METHOD_LIMIT`] public methods of its own.
//!
//! Function length is clippy's `too_many_lines`, switched on at the roots of
//! kith-client, kith-server and kith-cli. This reads source text rather than parsing Rust: imports are
//! `crate::`, `super::` and `self::` paths, which is all the crates use.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::workspace::Workspace;

/// Crates whose modules must form an acyclic import graph (their `src` dirs).
const ACYCLIC_CRATES: &[&str] = &["crates/kith-client", "sync-server", "crates/kith-cli"];

/// The most public methods `Profile` may have of its own.
const PROFILE_METHOD_LIMIT: usize = 30;

/// Runs every check; fails with the list of what is broken.
pub fn run(ws: &Workspace) -> Result<()> {
    let mut problems = Vec::new();
    for krate in ACYCLIC_CRATES {
        let src = ws.root.join(krate).join("src");
        let graph = ModuleGraph::read(&src)?;
        for cycle in graph.cycles() {
            problems.push(format!(
                "{krate}: modules import each other in a circle: {}",
                cycle.join(" -> ")
            ));
        }
        println!("structure: {krate}: {} modules read", graph.edges.len());
    }
    let count = profile_public_methods(&ws.root.join("crates/kith-client/src"))?;
    println!("structure: Profile has {count} public methods of its own (limit {PROFILE_METHOD_LIMIT})");
    if count > PROFILE_METHOD_LIMIT {
        problems.push(format!(
            "Profile has {count} public methods; at most {PROFILE_METHOD_LIMIT} (move them to a concept handle)"
        ));
    }
    if problems.is_empty() {
        return Ok(());
    }
    for problem in &problems {
        eprintln!("structure: {problem}");
    }
    bail!("{} structure rule(s) broken", problems.len())
}

/// Modules (by path, `p2p::session`) and the modules each one imports.
#[derive(Debug, Default)]
struct ModuleGraph {
    /// Module path -> the other modules it refers to.
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl ModuleGraph {
    /// Reads every `.rs` file under `src` (one module per file).
    fn read(src: &Path) -> Result<Self> {
        let mut files = Vec::new();
        collect_rs_files(src, &mut files)?;
        let modules: BTreeMap<String, PathBuf> = files
            .into_iter()
            .filter_map(|file| module_path(src, &file).map(|path| (path, file)))
            .collect();
        let known: BTreeSet<String> = modules.keys().cloned().collect();
        let mut graph = Self::default();
        for (module, file) in &modules {
            let text = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let targets = referenced_modules(module, &strip_tests_and_comments(&text), &known);
            graph.edges.insert(module.clone(), targets);
        }
        Ok(graph)
    }

    /// Every strongly connected group of two or more modules, as a list.
    fn cycles(&self) -> Vec<Vec<String>> {
        let mut cycles = Vec::new();
        let mut seen = BTreeSet::new();
        for start in self.edges.keys() {
            if seen.contains(start) {
                continue;
            }
            let reach = self.reachable(start);
            let group: Vec<String> = reach
                .iter()
                .filter(|other| *other != start && self.reachable(other).contains(start))
                .cloned()
                .collect();
            if !group.is_empty() {
                let mut members = vec![start.clone()];
                members.extend(group);
                seen.extend(members.iter().cloned());
                cycles.push(members);
            }
        }
        cycles
    }

    /// The modules `from` reaches through imports (not counting itself unless
    /// a cycle leads back).
    fn reachable(&self, from: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack: Vec<&str> = vec![from];
        while let Some(module) = stack.pop() {
            for next in self.edges.get(module).into_iter().flatten() {
                if out.insert(next.clone()) {
                    stack.push(next);
                }
            }
        }
        out
    }
}

fn collect_rs_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// `src/p2p/session.rs` -> `p2p::session`; `src/p2p/mod.rs` -> `p2p`;
/// `lib.rs` and `main.rs` (the crate root) are left out: the root declares
/// modules and re-exports them, which is not layering.
fn module_path(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        return None;
    }
    Some(parts.join("::"))
}

/// Drops `//` comments and everything from a `#[cfg(test)]` line on (test
/// modules sit at the end of a file and may use anything).
fn strip_tests_and_comments(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or_default();
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The known modules that `module`'s code names through `crate::`, `super::`
/// or `self::` paths, including inside `use a::{b, c::d}` groups.
fn referenced_modules(module: &str, code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let own: Vec<&str> = module.split("::").collect();
    let mut out = BTreeSet::new();
    for path in paths_in(code) {
        let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let absolute = match segments.first() {
            Some(&"crate") => segments[1..].to_vec(),
            Some(&"super") => {
                let mut base = own[..own.len().saturating_sub(1)].to_vec();
                let mut rest = &segments[..];
                while rest.first() == Some(&"super") {
                    rest = &rest[1..];
                    if rest.first() == Some(&"super") {
                        base.pop();
                    }
                }
                base.extend_from_slice(rest);
                base
            }
            Some(&"self") => {
                let mut base = own.clone();
                base.extend_from_slice(&segments[1..]);
                base
            }
            _ => continue,
        };
        // The longest prefix that names a module is the module imported.
        for len in (1..=absolute.len()).rev() {
            let candidate = absolute[..len].join("::");
            if known.contains(&candidate) {
                if candidate != module {
                    out.insert(candidate);
                }
                break;
            }
        }
    }
    out
}

/// Every path that starts with `crate::`, `super::` or `self::`, with `use`
/// groups expanded (`crate::{a::B, c}` gives `crate::a::B` and `crate::c`).
fn paths_in(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 7)].iter().collect();
        let starts = ["crate::", "super::", "self::"]
            .iter()
            .any(|prefix| rest.starts_with(prefix));
        let boundary = i == 0 || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
        if starts && boundary {
            let (paths, end) = expand_path(&bytes, i, String::new());
            out.extend(paths);
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Reads one path (with nested `{...}` groups) starting at `start`; returns
/// the full paths and the index after it.
fn expand_path(chars: &[char], start: usize, prefix: String) -> (Vec<String>, usize) {
    let mut current = prefix;
    let mut i = start;
    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
        current.push(chars[i]);
        i += 1;
    }
    if i < chars.len() && chars[i] == '{' && current.ends_with("::") {
        let mut out = Vec::new();
        i += 1;
        loop {
            while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ',') {
                i += 1;
            }
            if i >= chars.len() || chars[i] == '}' {
                return (out, i + 1);
            }
            let (paths, end) = expand_path(chars, i, current.clone());
            out.extend(paths);
            // Skip `as alias` and anything else up to the next item.
            i = end;
            while i < chars.len() && chars[i] != ',' && chars[i] != '}' {
                i += 1;
            }
        }
    }
    (vec![current], i)
}

/// Counts `pub fn` items directly inside `impl Profile` blocks (not trait
/// impls, not nested items) in every file under `src`.
fn profile_public_methods(src: &Path) -> Result<usize> {
    let mut files = Vec::new();
    collect_rs_files(src, &mut files)?;
    let mut count = 0;
    for file in files {
        let text = fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        count += count_in_impl(&strip_tests_and_comments(&text), "Profile");
    }
    Ok(count)
}

fn count_in_impl(code: &str, type_name: &str) -> usize {
    let mut count = 0;
    let mut depth: i64 = 0;
    let mut impl_depth: Option<i64> = None;
    for line in code.lines() {
        let trimmed = line.trim_start();
        if impl_depth.is_none() && is_inherent_impl(trimmed, type_name) {
            impl_depth = Some(depth);
        } else if let Some(level) = impl_depth
            && depth == level + 1
            && trimmed.starts_with("pub fn ")
        {
            count += 1;
        }
        depth += line.matches('{').count() as i64 - line.matches('}').count() as i64;
        if impl_depth.is_some_and(|level| depth <= level) && line.contains('}') {
            impl_depth = None;
        }
    }
    count
}

/// `impl Profile {` or `impl<'a> Profile {`, not `impl Trait for Profile`.
fn is_inherent_impl(line: &str, type_name: &str) -> bool {
    let Some(rest) = line.strip_prefix("impl") else {
        return false;
    };
    let rest = rest.trim_start();
    let rest = if rest.starts_with('<') {
        rest.split_once('>').map_or("", |(_, after)| after.trim_start())
    } else {
        rest
    };
    !line.contains(" for ") && rest.split(['<', ' ', '{']).next() == Some(type_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_groups_expand() {
        let paths = paths_in("use crate::{a::B, c::{d, e as f}};\nfn x() { super::g::h(); }");
        assert_eq!(paths, ["crate::a::B", "crate::c::d", "crate::c::e", "super::g::h"]);
    }

    #[test]
    fn a_cycle_is_found_and_a_chain_is_not() {
        let known: BTreeSet<String> = ["a", "b", "c", "p2p", "p2p::x", "p2p::y"].map(String::from).into();
        let mut graph = ModuleGraph::default();
        graph
            .edges
            .insert("a".into(), referenced_modules("a", "use crate::b::T;", &known));
        graph
            .edges
            .insert("b".into(), referenced_modules("b", "use crate::c::T;", &known));
        graph.edges.insert("c".into(), BTreeSet::new());
        graph.edges.insert(
            "p2p::x".into(),
            referenced_modules("p2p::x", "use super::y::Z;", &known),
        );
        graph.edges.insert("p2p::y".into(), BTreeSet::new());
        assert!(graph.cycles().is_empty());
        graph
            .edges
            .insert("c".into(), referenced_modules("c", "fn f() { crate::a::g() }", &known));
        assert_eq!(
            graph.cycles(),
            vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]
        );
        graph
            .edges
            .insert("p2p::y".into(), referenced_modules("p2p::y", "use super::x;", &known));
        assert_eq!(graph.cycles().len(), 2);
    }

    #[test]
    fn only_inherent_public_methods_count() {
        let code = "impl Profile {\n    pub fn a(&self) {}\n    fn b(&self) {}\n    pub fn c(&self) {\n        \
                    if x { }\n    }\n}\nimpl Drop for Profile {\n    pub fn d(&self) {}\n}\nimpl Other {\n    pub fn e() {}\n}\n";
        assert_eq!(count_in_impl(code, "Profile"), 2);
    }
}
