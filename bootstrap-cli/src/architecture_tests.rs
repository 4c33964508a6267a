//! The shape of the code, held by tests: no file imports another that imports it back (directly
//! or around a loop), in the engine (`src/`) or the CLI (`bootstrap-cli/src`), and no function
//! outside tests runs past 80 lines. Test code (`#[cfg(test)] mod ...` to the end of a file,
//! `test_mocks.rs`, `*_tests.rs`) is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest function, in lines, outside tests.
const MAX_FUNCTION_LINES: usize = 80;

fn rust_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// `resources/mod.rs` → `["resources"]`, `lib.rs` → `[]`.
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

fn is_test_file(file: &Path) -> bool {
    let name = file.file_name().unwrap().to_string_lossy();
    name == "test_mocks.rs" || name.ends_with("_tests.rs")
}

/// The file without its test module (by convention the last thing in a file).
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod ").map_or(text, |i| &text[..i])
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(path: &str) -> Vec<String> {
    let path = path.trim();
    let Some(open) = path.find('{') else {
        return vec![path.to_string()];
    };
    let prefix = &path[..open];
    let inner = &path[open + 1..path.rfind('}').unwrap_or(path.len())];
    let (mut parts, mut depth, mut current) = (Vec::new(), 0, String::new());
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand(&format!("{prefix}{}", p.trim())))
        .collect()
}

/// Every path that starts at `crate`, `super`, `self` or a child module of `me`.
fn paths_in(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut statement: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_start();
        let t = ["pub(crate) ", "pub(super) ", "pub "]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .unwrap_or(t);
        match &mut statement {
            Some(text) => text.push_str(t),
            None => match t.strip_prefix("use ") {
                Some(start) => statement = Some(start.to_string()),
                None => continue,
            },
        }
        if let Some(end) = statement.as_ref().and_then(|s| s.find(';')) {
            paths.extend(expand(&statement.take().unwrap()[..end]));
        }
    }
    // Paths in expressions and types: `crate::a::b(..)`, `super::c::D`, `child::f()`.
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if is_ident(chars[i]) && (i == 0 || !(is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            let start = i;
            while i < chars.len() && (is_ident(chars[i]) || (chars[i] == ':' && chars.get(i + 1) == Some(&':'))) {
                i += if chars[i] == ':' { 2 } else { 1 };
            }
            let path: String = chars[start..i].iter().collect();
            if path.contains("::") {
                paths.push(path);
            }
        }
        i += 1;
    }
    paths
}

/// The module a path names, as far as it names one; `None` for other crates.
fn resolve(me: &[String], path: &str, modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let segments: Vec<&str> = path
        .split("::")
        .map(|s| s.split(" as ").next().unwrap().trim())
        .collect();
    let (mut at, mut rest): (Vec<String>, &[&str]) = match segments.first()? {
        &"crate" => (Vec::new(), &segments[1..]),
        &"self" => (me.to_vec(), &segments[1..]),
        &"super" => {
            let mut at = me.to_vec();
            let mut n = 0;
            while segments.get(n) == Some(&"super") {
                at.pop();
                n += 1;
            }
            (at, &segments[n..])
        }
        first => {
            let mut child = me.to_vec();
            child.push(first.to_string());
            if !modules.contains(&child) {
                return None;
            }
            (child, &segments[1..])
        }
    };
    while let Some((next, tail)) = rest.split_first() {
        let mut deeper = at.clone();
        deeper.push(next.to_string());
        if !modules.contains(&deeper) {
            break;
        }
        at = deeper;
        rest = tail;
    }
    Some(at)
}

/// Each module's file-level imports.
fn imports(root: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files: Vec<PathBuf> = rust_files(root).into_iter().filter(|f| !is_test_file(f)).collect();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(root, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let me = module_of(root, file);
        let text = std::fs::read_to_string(file).unwrap();
        let deps: BTreeSet<Vec<String>> = paths_in(without_tests(&text))
            .iter()
            .filter_map(|p| resolve(&me, p, &modules))
            .filter(|m| *m != me)
            .collect();
        graph.entry(me).or_insert_with(BTreeSet::new).extend(deps);
    }
    graph
}

/// The import circles: strongly connected components of more than one module (Tarjan).
fn circles(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, usize>,
        low: BTreeMap<&'a Vec<String>, usize>,
        stack: Vec<&'a Vec<String>>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, v: &'a Vec<String>) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        for u in w.graph.get(v).into_iter().flatten() {
            let Some((u, _)) = w.graph.get_key_value(u) else {
                continue;
            };
            if !w.index.contains_key(u) {
                visit(w, u);
                let low = w.low[v].min(w.low[u]);
                w.low.insert(v, low);
            } else if w.stack.contains(&u) {
                let low = w.low[v].min(w.index[u]);
                w.low.insert(v, low);
            }
        }
        if w.low[v] == w.index[v] {
            let mut component = Vec::new();
            while let Some(u) = w.stack.pop() {
                component.push(if u.is_empty() { "lib".to_string() } else { u.join("/") });
                if u == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut w = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !w.index.contains_key(v) {
            visit(&mut w, v);
        }
    }
    w.found
}

fn is_fn_line(line: &str) -> bool {
    let mut t = line.trim_start();
    for word in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe "] {
        t = t.strip_prefix(word).unwrap_or(t);
        t = t.strip_prefix("async ").unwrap_or(t);
    }
    t.starts_with("fn ")
}

/// Functions longer than [`MAX_FUNCTION_LINES`]: `path:line (lines)`.
fn long_functions(root: &Path) -> Vec<String> {
    let mut long = Vec::new();
    for file in rust_files(root).into_iter().filter(|f| !is_test_file(f)) {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = without_tests(&text).lines().collect();
        for (start, line) in lines.iter().enumerate().filter(|(_, l)| is_fn_line(l)) {
            let (mut depth, mut opened) = (0i64, false);
            for (end, l) in lines.iter().enumerate().skip(start) {
                if !opened && l.trim_end().ends_with(';') {
                    break; // a declaration without a body
                }
                depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
                opened |= l.contains('{');
                if opened && depth <= 0 {
                    let n = end - start + 1;
                    if n > MAX_FUNCTION_LINES {
                        long.push(format!("{}:{} ({n} lines) {}", file.display(), start + 1, line.trim()));
                    }
                    break;
                }
            }
        }
    }
    long
}

fn roots() -> [PathBuf; 2] {
    let cli = Path::new(env!("CARGO_MANIFEST_DIR"));
    [cli.join("src"), cli.join("../src")]
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    for root in roots() {
        let graph = imports(&root);
        assert!(graph.len() > 10, "too few modules read in {}", root.display());
        let found = circles(&graph);
        assert!(found.is_empty(), "import circles in {}: {found:?}", root.display());
    }
}

#[test]
fn no_function_outside_tests_runs_past_80_lines() {
    let long: Vec<String> = roots().iter().flat_map(|r| long_functions(r)).collect();
    assert!(long.is_empty(), "functions over {MAX_FUNCTION_LINES} lines: {long:#?}");
}

#[test]
fn the_checks_see_a_circle_and_resolve_paths_as_rust_does() {
    let modules: BTreeSet<Vec<String>> = [vec![], vec!["a".into()], vec!["a".into(), "b".into()], vec!["c".into()]]
        .into_iter()
        .collect();
    let a = vec!["a".to_string()];
    let b = vec!["a".to_string(), "b".to_string()];
    assert_eq!(resolve(&b, "super::Thing", &modules), Some(a.clone()));
    assert_eq!(resolve(&a, "b::f", &modules), Some(b.clone()), "a child module");
    assert_eq!(resolve(&b, "crate::c::X", &modules), Some(vec!["c".to_string()]));
    assert_eq!(resolve(&b, "serde::Serialize", &modules), None);
    assert_eq!(expand("crate::{a::b, c::{D, E}}").len(), 3);
    let mut graph = BTreeMap::new();
    graph.insert(a.clone(), BTreeSet::from([b.clone()]));
    graph.insert(b.clone(), BTreeSet::from([a.clone()]));
    graph.insert(vec!["c".to_string()], BTreeSet::from([a.clone()]));
    assert_eq!(circles(&graph), vec![vec!["a".to_string(), "a/b".to_string()]]);
    let body = format!("fn f() {{\n{}}}\n", "    x();\n".repeat(MAX_FUNCTION_LINES));
    assert!(is_fn_line("    pub(crate) async fn g(") && !is_fn_line("    // fn h"));
    let dir = std::env::temp_dir().join(format!("pushdeploy-arch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("long.rs"), body).unwrap();
    assert_eq!(long_functions(&dir).len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
