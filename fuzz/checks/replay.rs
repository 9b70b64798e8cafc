//! Replays fuzz inputs through a target's check in a crate's normal tests (`cargo test`): every
//! input kept under `fuzz/regressions/<target>/` (each one crashed the target once) and the
//! target's seeds (`fuzz/seeds.txt`).

use std::path::{Path, PathBuf};

/// The repository root, from a crate's directory.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether `name` matches `pattern`, where `*` matches any run of characters.
fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len())
                .filter(|&i| tail.is_char_boundary(i))
                .any(|i| wildcard(rest, &tail[i..]))
        }
    }
}

/// The files of `dir` whose names match `pattern` (`*` matches any run of characters),
/// sorted.
fn matching(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| path.is_file())
                .filter(|path| {
                    path.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|name| wildcard(pattern, name))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// The seed files of `target`, as `fuzz/seeds.txt` lists them.
fn seeds(target: &str) -> Vec<PathBuf> {
    let root = root();
    let listing = std::fs::read_to_string(root.join("fuzz/seeds.txt")).expect("fuzz/seeds.txt");
    let line = listing
        .lines()
        .find(|line| line.split_whitespace().next() == Some(target))
        .unwrap_or_else(|| panic!("fuzz/seeds.txt has no line for `{target}`"));
    line.split_whitespace()
        .skip(1)
        .flat_map(|file| {
            let path = root.join(file);
            let dir = path
                .parent()
                .expect("a seed path has a directory")
                .to_owned();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_owned();
            let found = matching(&dir, &name);
            assert!(!found.is_empty(), "no seed matches `{file}`");
            found
        })
        .collect()
}

/// Runs `check` on every regression input and every seed of `target`, naming the input that
/// fails; returns how many regression inputs there were.
pub(crate) fn replay(target: &str, check: fn(&[u8])) -> usize {
    let regressions = matching(&root().join("fuzz/regressions").join(target), "*");
    let count = regressions.len();
    for path in regressions.into_iter().chain(seeds(target)) {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("fuzz target `{target}` fails on {}", path.display());
        }
    }
    count
}
