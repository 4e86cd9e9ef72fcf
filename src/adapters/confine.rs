//! Paths an action names, confined to a root the operator configured (ansible playbooks,
//! terraform workspaces).
//!
//! Invariants: the root is canonicalised once; the relative path is plain characters only
//! (letters, digits, `._-/`, not starting with `-`), so it can never read as an option; every
//! component is checked with `lstat` on the way down, so `..`, an absolute path or a symlink
//! anywhere is refused instead of followed.

use std::fs;
use std::path::{Component, Path, PathBuf};

/// Why a path is not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No root is configured.
    NoRoot,
    /// The root cannot be resolved (path, error).
    BadRoot(String, String),
    /// Not a plain relative path.
    NotAPath(String),
    /// Absolute, or through `..`.
    OutsideRoot(String),
    /// Through a symlink (the path, the link under the root).
    Symlink(String, String),
    /// Nothing there.
    Missing(String),
}

/// `relative` under `root`, each component checked; returns the path (which exists).
pub fn under_root(root: Option<&Path>, relative: &str) -> Result<(PathBuf, PathBuf), Refusal> {
    let root = root.ok_or(Refusal::NoRoot)?;
    let root = root
        .canonicalize()
        .map_err(|error| Refusal::BadRoot(root.display().to_string(), error.to_string()))?;
    let shown = crate::audit::cut(relative, 200);
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/');
    if relative.is_empty() || relative.starts_with('-') || !relative.chars().all(plain) {
        return Err(Refusal::NotAPath(shown));
    }
    let mut path = root.clone();
    for component in Path::new(relative).components() {
        match component {
            Component::Normal(part) => {
                path.push(part);
                let metadata =
                    fs::symlink_metadata(&path).map_err(|_| Refusal::Missing(shown.clone()))?;
                if metadata.file_type().is_symlink() {
                    let link = path
                        .strip_prefix(&root)
                        .unwrap_or(&path)
                        .display()
                        .to_string();
                    return Err(Refusal::Symlink(shown, link));
                }
            }
            Component::CurDir => {}
            Component::RootDir | Component::ParentDir | Component::Prefix(_) => {
                return Err(Refusal::OutsideRoot(shown));
            }
        }
    }
    Ok((root, path))
}
