//! A developer's checkout: where it is, and the `dev:<slug>` scope of
//! the stack `netfence up` runs for it.
//!
//! The slug names the checkout, not the project: two git worktrees of one repository
//! hold the same compose file and often sit in directories of the same name
//! (`~/a/shop`, `~/b/shop`), so the directory name alone would put both stacks in one
//! scope. The slug is the directory's name for people to read, then a short hash of its
//! canonical path, which tells the two apart and stays the same for one checkout.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::input::ComposeFiles;
use crate::scope::Scope;

/// The readable part of a slug is at most this long: names built from the slug
/// (`nf-<slug>-<network>`) stay within Docker's bounds and readable.
const NAME_PART_MAX: usize = 24;

/// Hex digits of the path's hash in a slug (32 bits: a laptop's checkouts never meet).
const HASH_DIGITS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// Canonical, absolute.
    pub root: PathBuf,
    /// The scope id: `<dirname>-<hash of root>`, a valid scope id.
    pub slug: String,
}

impl Checkout {
    /// The checkout a compose project directory belongs to: the nearest directory, that
    /// one or a parent, holding `.git` (a directory in a clone, a file in a worktree or
    /// a submodule); else the project directory itself.
    pub fn of(project_dir: &Path) -> Checkout {
        let dir = std::fs::canonicalize(project_dir).unwrap_or_else(|_| project_dir.to_owned());
        let root = dir
            .ancestors()
            .find(|d| d.join(".git").symlink_metadata().is_ok())
            .unwrap_or(&dir)
            .to_path_buf();
        let slug = slug(&root);
        Checkout { root, slug }
    }

    /// The checkout of the compose files a command reads: their project directory is the
    /// first file's (as Compose takes it), the working directory for standard input or
    /// when no file is found.
    pub fn locate(files: &ComposeFiles, working_dir: &Path) -> Checkout {
        if let Some(dir) = files.project_dir() {
            return Checkout::of(dir);
        }
        let first = match files {
            ComposeFiles::Given(paths)
            | ComposeFiles::Discovered { files: paths, .. }
            | ComposeFiles::Recorded { files: paths, .. } => {
                paths.iter().find(|p| p.as_os_str() != "-")
            }
            ComposeFiles::Stdin | ComposeFiles::Nothing { .. } => None,
        };
        let project_dir = first
            .map(|f| working_dir.join(f))
            .map(|f| std::fs::canonicalize(&f).unwrap_or(f))
            .and_then(|f| f.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| working_dir.to_path_buf());
        Checkout::of(&project_dir)
    }

    pub fn scope(&self) -> Scope {
        Scope::Dev(self.slug.clone())
    }
}

/// `<dirname>-<hash>`: the directory's name lower-cased, every run of other characters
/// as one `-`, at most [`NAME_PART_MAX`] long; then [`HASH_DIGITS`] hex digits of
/// SHA-256 of the path's bytes.
pub fn slug(root: &Path) -> String {
    let mut name = String::new();
    let raw = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
        if name.len() >= NAME_PART_MAX {
            break;
        }
    }
    let name = name.trim_end_matches('-');
    let name = if name.is_empty() { "checkout" } else { name };
    let digest = Sha256::digest(root.as_os_str().as_bytes());
    let hash: String = digest
        .iter()
        .take(HASH_DIGITS / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{name}-{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_different_paths_are_different_slugs() {
        let a = slug(Path::new("/tmp/x/a/shop"));
        let b = slug(Path::new("/tmp/x/b/shop"));
        assert_ne!(a, b);
        assert!(a.starts_with("shop-") && b.starts_with("shop-"), "{a} {b}");
    }

    #[test]
    fn a_slug_is_stable_and_a_valid_scope_id() {
        let p = Path::new("/home/dev/src/My Shop (v2)!");
        assert_eq!(slug(p), slug(p));
        for p in [
            p,
            Path::new("/"),
            Path::new("/srv/-x-"),
            Path::new("/srv/ünïcødé"),
            Path::new("/srv/a-very-long-directory-name-that-goes-on-and-on-and-on"),
        ] {
            let s = slug(p);
            assert!(crate::scope::valid_id(&s), "{s}");
            assert!(s.len() <= NAME_PART_MAX + 1 + HASH_DIGITS, "{s}");
        }
        assert!(slug(p).starts_with("my-shop-v2-"), "{}", slug(p));
        assert!(slug(Path::new("/")).starts_with("checkout-"));
    }

    #[test]
    fn the_root_is_the_nearest_git_directory_or_worktree_file() {
        let t = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(t.path()).unwrap();
        // A clone: .git is a directory; the compose file is deeper.
        let clone = base.join("a/shop");
        std::fs::create_dir_all(clone.join(".git")).unwrap();
        std::fs::create_dir_all(clone.join("deploy")).unwrap();
        let c = Checkout::of(&clone.join("deploy"));
        assert_eq!(c.root, clone);
        // A worktree of it: .git is a file.
        let tree = base.join("b/shop");
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::write(
            tree.join(".git"),
            "gitdir: ../../a/shop/.git/worktrees/shop\n",
        )
        .unwrap();
        let w = Checkout::of(&tree);
        assert_eq!(w.root, tree);
        assert_ne!(c.slug, w.slug, "same directory name, different checkouts");
        assert_eq!(w.scope(), Scope::Dev(w.slug.clone()));
        // No git at all: the project directory.
        let plain = base.join("plain");
        std::fs::create_dir_all(&plain).unwrap();
        assert_eq!(Checkout::of(&plain).root, plain);
        // A symlink to a checkout is that checkout.
        std::os::unix::fs::symlink(&tree, base.join("link")).unwrap();
        assert_eq!(Checkout::of(&base.join("link")), w);
    }

    #[test]
    fn located_from_the_first_compose_file_else_the_working_directory() {
        let t = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(t.path()).unwrap();
        let repo = base.join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("ops")).unwrap();
        std::fs::write(repo.join("ops/compose.yml"), "services: {}\n").unwrap();
        let given = ComposeFiles::Given(vec!["ops/compose.yml".into(), "-".into()]);
        assert_eq!(Checkout::locate(&given, &repo).root, repo);
        let elsewhere = base.join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        assert_eq!(
            Checkout::locate(&ComposeFiles::Stdin, &elsewhere).root,
            elsewhere
        );
    }
}
