//! netfence's own directory on this host, and what `run` keeps there: one private
//! directory per run (the fenced compose file, the run info) and the run-id locks.
//!
//! Files netfence writes never follow a symlink and never replace a file netfence did
//! not create. A predictable path in a shared directory (`/tmp`) or beside the
//! user's compose file gives anyone who can write there a way to plant a symlink, so
//! everything lives under one per-user directory, `$TMPDIR/netfence-<uid>`, that is
//! refused unless it is a real directory of this user that no one else may enter. Inside
//! it each run gets a directory made fresh (random name, exclusive `mkdir`), and each
//! file in that is created exclusively. Clean-up removes only run directories in it.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::engine::{EngineError, EngineResult};

/// Where the per-run directories are, inside the state directory.
const RUNS: &str = "runs";
/// Where the run-id locks are, inside the state directory.
const LOCKS: &str = "locks";
/// Reused stacks (`run --reuse`): one file per run id, its time the last use.
const REUSE: &str = "reuse";

/// The per-user state directory, checked to be this user's alone.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// `$TMPDIR/netfence-<uid>`, made when missing.
    pub fn open() -> EngineResult<StateDir> {
        let path = default_path();
        private_dir(&path)?;
        Ok(StateDir { path })
    }

    /// The state directory when it is there and this user's: for clean-up, which has
    /// nothing to do otherwise.
    pub fn existing() -> Option<StateDir> {
        let path = default_path();
        check_private(&path).ok()?;
        Some(StateDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a use of the reused stack `run_id` (`run --reuse`) made from input
    /// `digest`: the file's time is the last use, which `gc` and `ls` read.
    pub fn touch_reuse(&self, run_id: &str, digest: &str) -> EngineResult<()> {
        let dir = self.path.join(REUSE);
        private_dir(&dir)?;
        let path = dir.join(run_id);
        std::fs::write(&path, format!("{digest}\n")).map_err(|e| {
            let message = format!("recording the use of {}: {e}", path.display());
            EngineError::host(&path, message)
        })
    }

    /// When the reused stack `run_id` was last used, and the digest of its input; `None`
    /// when it is not one.
    pub fn reuse_record(&self, run_id: &str) -> Option<(std::time::SystemTime, String)> {
        let path = self.path.join(REUSE).join(run_id);
        let when = std::fs::metadata(&path).ok()?.modified().ok()?;
        let digest = std::fs::read_to_string(&path).ok()?.trim().to_owned();
        Some((when, digest))
    }

    /// Forgets the reused stack `run_id` (it was taken down).
    pub fn forget_reuse(&self, run_id: &str) {
        let _ = std::fs::remove_file(self.path.join(REUSE).join(run_id));
    }

    /// The directory of the run locks, made when missing.
    pub fn locks(&self) -> EngineResult<PathBuf> {
        let dir = self.path.join(LOCKS);
        private_dir(&dir)?;
        Ok(dir)
    }

    /// A fresh private directory for one run of `project` (`runs/<project>.<random>`).
    pub fn new_run_dir(&self, project: &str) -> EngineResult<RunDir> {
        let runs = self.path.join(RUNS);
        private_dir(&runs)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{project}."))
            .rand_bytes(8)
            .permissions(Permissions::from_mode(0o700))
            .tempdir_in(&runs)
            .map_err(|e| {
                let message = format!("creating a run directory in {}: {e}", runs.display());
                EngineError::host(&runs, message)
            })?;
        // Removed by tear-down, or left for `--keep`: never on drop.
        Ok(RunDir { path: dir.keep() })
    }

    /// Removes the run directories of `project` (what `run` left: a `--keep`, a killed
    /// run). Only directories inside the state directory, by their name.
    pub fn forget(&self, project: &str) {
        let Ok(entries) = std::fs::read_dir(self.path.join(RUNS)) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let ours = name
                .to_str()
                .and_then(|n| n.rsplit_once('.'))
                .is_some_and(|(p, _)| p == project);
            // `file_type` does not follow a symlink: only a real directory goes.
            if ours && e.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// One run's private directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a new file `name` here, readable by this user only. It must not exist yet:
    /// nothing is overwritten, no symlink is followed.
    pub fn write(&self, name: &str, text: &str) -> EngineResult<PathBuf> {
        let path = self.path.join(name);
        let fail = |e: std::io::Error| {
            EngineError::host(&path, format!("writing {}: {e}", path.display()))
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(fail)?;
        file.write_all(text.as_bytes()).map_err(fail)?;
        Ok(path)
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn default_path() -> PathBuf {
    let uid = nix::unistd::geteuid();
    std::env::temp_dir().join(format!("netfence-{uid}"))
}

/// Makes `path` a directory of mode 0700 unless it exists, then checks it is private.
fn private_dir(path: &Path) -> EngineResult<()> {
    match DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(EngineError::host(
                path,
                format!("creating {}: {e}", path.display()),
            ))
        }
    }
    check_private(path)
}

/// A directory netfence may keep its files in: not a symlink, this user's, and closed to
/// everyone else (else another user could have planted something in it).
fn check_private(path: &Path) -> EngineResult<()> {
    let refuse = |why: String| {
        EngineError::host(path, format!(
            "refusing to use {}: {why}; netfence keeps its files only in a directory of its own (remove it, or set TMPDIR elsewhere)",
            path.display()
        ))
    };
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| EngineError::host(path, format!("reading {}: {e}", path.display())))?;
    if meta.file_type().is_symlink() {
        return Err(refuse("it is a symlink".into()));
    }
    if !meta.is_dir() {
        return Err(refuse("it is not a directory".into()));
    }
    let uid = nix::unistd::geteuid().as_raw();
    if meta.uid() != uid {
        return Err(refuse(format!(
            "it belongs to uid {}, not {uid}",
            meta.uid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(refuse(format!(
            "others may use it (mode {:o})",
            meta.mode() & 0o777
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_directory_is_private_and_its_files_are_new() {
        let root = tempfile::tempdir().unwrap();
        let state = StateDir {
            path: root.path().join("state"),
        };
        private_dir(&state.path).unwrap();
        let run = state.new_run_dir("nf-a-demo").unwrap();
        let mode = std::fs::metadata(run.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let f = run.write("compose.yml", "x").unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o777, 0o600);
        assert!(run.write("compose.yml", "y").is_err(), "never overwritten");
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "x");

        let victim = root.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, run.path().join("run-info.json")).unwrap();
        assert!(
            run.write("run-info.json", "z").is_err(),
            "no symlink followed"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn forget_takes_only_that_projects_run_directories() {
        let root = tempfile::tempdir().unwrap();
        let state = StateDir {
            path: root.path().join("state"),
        };
        private_dir(&state.path).unwrap();
        let a = state.new_run_dir("nf-a-demo").unwrap();
        let longer = state.new_run_dir("nf-a-demo-2").unwrap();
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, state.path.join(RUNS).join("nf-a-demo.link"))
            .unwrap();
        state.forget("nf-a-demo");
        assert!(!a.path().exists());
        assert!(longer.path().exists(), "another project's");
        assert!(elsewhere.exists(), "a symlink is not followed");
    }

    #[test]
    fn a_shared_or_symlinked_state_directory_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, Permissions::from_mode(0o777)).unwrap();
        let e = private_dir(&open).unwrap_err().to_string();
        assert!(e.contains("others may use it"), "{e}");
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        let e = private_dir(&link).unwrap_err().to_string();
        assert!(e.contains("symlink"), "{e}");
    }
}
