//! Fixture discovery: stores written by the real Java code, with the files the
//! Java decoders read back (`expected*.jsonl`, `expected_meta.json`).
//!
//! The shared fixture set (`../shared/fixtures` beside the repository) is used
//! when present, since it may hold more stores than the copy committed under
//! `tests/fixtures/`; otherwise the committed copy.

use std::path::{Path, PathBuf};

/// The fixture root in use.
pub fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = here.join("../../shared/fixtures");
    if shared.is_dir() {
        shared
    } else {
        here.join("fixtures")
    }
}

/// The committed copy (for commands a user runs from the README).
pub fn committed_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// One fixture directory (`<root>/<group>/<name>`).
#[derive(Debug, Clone)]
pub struct Fixture {
    /// `group/name`, e.g. `rocketmq/basic`.
    pub name: String,
    /// The fixture directory.
    pub dir: PathBuf,
}

impl Fixture {
    /// `<dir>/store`.
    pub fn store(&self) -> PathBuf {
        self.dir.join("store")
    }
    /// A file of the fixture directory, if it exists.
    pub fn file(&self, name: &str) -> Option<PathBuf> {
        let p = self.dir.join(name);
        p.is_file().then_some(p)
    }
    /// The fixture group: `rocketmq`, `dledger` or `rocketmq-dledger`.
    pub fn group(&self) -> &str {
        self.name.split('/').next().unwrap_or("")
    }
}

/// Every fixture under [`root`], sorted by name.
pub fn all() -> Vec<Fixture> {
    let mut out = Vec::new();
    let root = root();
    let Ok(groups) = std::fs::read_dir(&root) else {
        return out;
    };
    for g in groups.flatten() {
        let Ok(items) = std::fs::read_dir(g.path()) else {
            continue;
        };
        for f in items.flatten() {
            if f.path().join("store").is_dir() {
                out.push(Fixture {
                    name: format!(
                        "{}/{}",
                        g.file_name().to_string_lossy(),
                        f.file_name().to_string_lossy()
                    ),
                    dir: f.path(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Reads a JSON-lines file into values.
pub fn read_jsonl(path: &Path) -> anyhow::Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}
