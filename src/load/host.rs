//! The host's file system as the tenant checks see it. Planning asks the host where a
//! path leads (links followed, as the engine follows them when it mounts) and reads the
//! project's `.env` and env files; it does so only through the [`Host`] that loading
//! hands over with the input, never by itself, so a plan depends on what it is given
//! and a test can give it a host made up in memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result, Source};

/// What a path itself is, its last link not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Missing,
    File,
    Dir,
    Link,
    Other,
}

/// The questions planning asks of the host's file system.
pub trait Host: std::fmt::Debug + Send + Sync {
    /// Where `path` leads with every link followed; `None` when nothing is there.
    fn canonical(&self, path: &Path) -> Option<PathBuf>;
    /// What `path` itself is.
    fn entry(&self, path: &Path) -> Entry;
    /// What the link at `path` says, as written.
    fn read_link(&self, path: &Path) -> Option<PathBuf>;
    /// The text of a regular file, bounded as every input is.
    fn read(&self, path: &Path) -> Result<String>;
    /// The directory `~` stands for.
    fn home(&self) -> Option<PathBuf>;

    /// Whether `path`, links followed, is a regular file.
    fn is_file(&self, path: &Path) -> bool {
        self.canonical(path)
            .is_some_and(|real| self.entry(&real) == Entry::File)
    }
}

/// The machine's own file system and `HOME`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Disk;

impl Host for Disk {
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        std::fs::canonicalize(path).ok()
    }

    fn entry(&self, path: &Path) -> Entry {
        match std::fs::symlink_metadata(path) {
            Err(_) => Entry::Missing,
            Ok(m) if m.file_type().is_symlink() => Entry::Link,
            Ok(m) if m.is_file() => Entry::File,
            Ok(m) if m.is_dir() => Entry::Dir,
            Ok(_) => Entry::Other,
        }
    }

    fn read_link(&self, path: &Path) -> Option<PathBuf> {
        std::fs::read_link(path).ok()
    }

    fn read(&self, path: &Path) -> Result<String> {
        // A FIFO or a device would block or never end: only regular files are read (a
        // missing file or a directory fails as it would, with the system's own words).
        let special = self
            .canonical(path)
            .is_some_and(|real| !matches!(self.entry(&real), Entry::File | Entry::Dir));
        if special {
            return Err(Error::Io {
                path: Source::File(path.to_path_buf()),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            });
        }
        super::read_file(path)
    }

    fn home(&self) -> Option<PathBuf> {
        std::env::var_os("HOME").map(PathBuf::from)
    }
}

/// The host handed from loading to planning: shared, cheap to clone.
#[derive(Debug, Clone)]
pub struct HostView(Arc<dyn Host>);

impl HostView {
    pub fn new(host: impl Host + 'static) -> HostView {
        HostView(Arc::new(host))
    }

    pub fn get(&self) -> &dyn Host {
        self.0.as_ref()
    }
}

impl Default for HostView {
    fn default() -> HostView {
        HostView::new(Disk)
    }
}

/// A host made up of files and links in memory: every path absolute, a link's target
/// absolute too. For tests of what planning makes of a host it cannot touch.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    files: BTreeMap<PathBuf, String>,
    dirs: Vec<PathBuf>,
    links: BTreeMap<PathBuf, PathBuf>,
    home: Option<PathBuf>,
}

impl Memory {
    pub fn file(mut self, path: impl Into<PathBuf>, text: &str) -> Memory {
        let path = path.into();
        self.add_parents(&path);
        self.files.insert(path, text.to_owned());
        self
    }

    pub fn dir(mut self, path: impl Into<PathBuf>) -> Memory {
        let path = path.into();
        self.add_parents(&path);
        self.dirs.push(path);
        self
    }

    pub fn link(mut self, path: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Memory {
        let path = path.into();
        self.add_parents(&path);
        self.links.insert(path, target.into());
        self
    }

    pub fn home(mut self, path: impl Into<PathBuf>) -> Memory {
        self.home = Some(path.into());
        self
    }

    fn add_parents(&mut self, path: &Path) {
        self.dirs
            .extend(path.ancestors().skip(1).map(Path::to_path_buf));
    }

    /// `path` with links followed component by component; `None` past a missing part
    /// or a loop.
    fn follow(&self, path: &Path, hops: usize) -> Option<PathBuf> {
        if hops > 40 {
            return None;
        }
        let mut out = PathBuf::from("/");
        for part in path.components() {
            match part {
                std::path::Component::Normal(name) => out.push(name),
                std::path::Component::ParentDir => {
                    out.pop();
                    continue;
                }
                _ => continue,
            }
            if let Some(target) = self.links.get(&out) {
                out = self.follow(target, hops + 1)?;
            } else if self.entry(&out) == Entry::Missing {
                return None;
            }
        }
        Some(out)
    }
}

impl Host for Memory {
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        self.follow(path, 0)
    }

    fn entry(&self, path: &Path) -> Entry {
        if self.links.contains_key(path) {
            Entry::Link
        } else if self.files.contains_key(path) {
            Entry::File
        } else if self.dirs.iter().any(|d| d == path) {
            Entry::Dir
        } else {
            Entry::Missing
        }
    }

    fn read_link(&self, path: &Path) -> Option<PathBuf> {
        self.links.get(path).cloned()
    }

    fn read(&self, path: &Path) -> Result<String> {
        let real = self.canonical(path);
        real.and_then(|r| self.files.get(&r).cloned())
            .ok_or_else(|| Error::Io {
                path: Source::File(path.to_path_buf()),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            })
    }

    fn home(&self) -> Option<PathBuf> {
        self.home.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_up_host_follows_links_as_the_file_system_does() {
        let host = Memory::default()
            .file("/srv/app/.env", "A=1\n")
            .link("/srv/app/conf", "/etc")
            .file("/etc/passwd", "root")
            .link("/srv/app/loop", "/srv/app/loop");
        assert_eq!(
            host.canonical(Path::new("/srv/app/conf/passwd")),
            Some(PathBuf::from("/etc/passwd"))
        );
        assert_eq!(host.entry(Path::new("/srv/app/conf")), Entry::Link);
        assert!(host.is_file(Path::new("/srv/app/conf/passwd")));
        assert_eq!(host.canonical(Path::new("/srv/app/nothing")), None);
        assert_eq!(host.canonical(Path::new("/srv/app/loop")), None);
        assert_eq!(host.read(Path::new("/srv/app/.env")).unwrap(), "A=1\n");
    }

    #[test]
    fn the_disk_answers_as_std_does() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        std::os::unix::fs::symlink(&file, dir.path().join("l")).unwrap();
        assert_eq!(Disk.entry(&dir.path().join("l")), Entry::Link);
        assert!(Disk.is_file(&dir.path().join("l")));
        assert_eq!(Disk.entry(&dir.path().join("none")), Entry::Missing);
        assert_eq!(Disk.read(&dir.path().join("l")).unwrap(), "x");
    }
}
