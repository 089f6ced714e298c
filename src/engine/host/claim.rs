//! A run id belongs to one live run at a time: a second `run` with the id of
//! a live one is refused before anything is touched. Two runs with one id would share
//! network and project names, and the tear-down of one would remove the other's
//! containers while its command still uses them.
//!
//! Two checks, because each misses what the other sees:
//! - a host-local lock per engine and run id, an `flock` on a file in netfence's state
//!   directory: two runs starting at the same moment on one host both find the engine
//!   empty, only one gets the lock. The kernel drops it when its process ends, however it
//!   ends, so a killed run leaves no stale lock.
//! - the engine: objects of scope `run:<id>` whose `io.netfence.owner` is a live process
//!   (a run that took the lock elsewhere: another user, another `$TMPDIR`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use sha2::{Digest, Sha256};

use crate::engine::host::owner::{self, Liveness};
use crate::engine::host::state_dir::StateDir;
use crate::engine::{Engine, EngineError};
use crate::error::Error;
use crate::{labels, Scope};

/// The run ids one process holds; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct Claim {
    _locks: Vec<Lock>,
}

/// Claims every id of `ids` for this process, or says which live run holds one.
pub async fn claim(engine: &Engine, state: &StateDir, ids: &[String]) -> Result<Claim, Error> {
    let dir = state.locks()?;
    let key = engine_key(engine).await?;
    let me = owner::current();
    let mut locks = Vec::new();
    for id in ids {
        let path = dir.join(format!("{key}-{id}.lock"));
        match Lock::take(&path, &me).map_err(|e| io_error(&path, e))? {
            Ok(lock) => locks.push(lock),
            Err(holder) => return Err(held(id, &holder)),
        }
    }
    if let Some((id, holder)) = live_owner(engine, ids).await? {
        return Err(held(&id, &holder));
    }
    Ok(Claim { _locks: locks })
}

fn held(id: &str, holder: &str) -> Error {
    Error::RunIdHeld {
        run_id: id.to_owned(),
        owner: owner::describe(holder),
    }
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    EngineError::host(path, format!("locking {}: {e}", path.display())).into()
}

/// Names the engine in lock file names: its own id, so that two addresses of one engine
/// (a socket and TCP) share the locks; its address when it has no id.
async fn engine_key(engine: &Engine) -> Result<String, EngineError> {
    let id = engine.id().await?;
    let id = if id.is_empty() {
        crate::engine::engine_location()
    } else {
        id
    };
    let digest = Sha256::digest(id.as_bytes());
    Ok(digest.iter().take(8).map(|b| format!("{b:02x}")).collect())
}

/// The first of `ids` whose objects on the engine a live process owns, with that owner.
async fn live_owner(engine: &Engine, ids: &[String]) -> Result<Option<(String, String)>, Error> {
    let filter = match ids {
        [one] => crate::engine::scope_filter(&Scope::Run(one.clone())),
        _ => vec![format!("{}=true", labels::MANAGED)],
    };
    let objects = engine.owned(&filter).await?;
    for id in ids {
        let scope = Scope::Run(id.clone()).to_string();
        let live = objects
            .iter()
            .filter(|o| o.scope() == Some(scope.as_str()))
            .filter_map(|o| o.label(labels::OWNER))
            .find(|l| owner::liveness(l) == Liveness::Alive);
        if let Some(l) = live {
            return Ok(Some((id.clone(), l.to_owned())));
        }
    }
    Ok(None)
}

/// An exclusive `flock` on a lock file holding its owner's label.
#[derive(Debug)]
struct Lock {
    file: Flock<File>,
    path: PathBuf,
}

impl Lock {
    /// The lock, or (inner `Err`) the owner label of the process that holds it.
    fn take(path: &Path, me: &str) -> std::io::Result<Result<Lock, String>> {
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600)
                .custom_flags(OFlag::O_NOFOLLOW.bits())
                .open(path)?;
            let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(f) => f,
                Err((mut f, Errno::EWOULDBLOCK)) => return Ok(Err(holder(&mut f))),
                Err((_, e)) => return Err(e.into()),
            };
            // The holder before us may have removed the file on release, after we
            // opened it: a lock on a file no longer there locks nothing.
            if !same_file(&file, path) {
                continue;
            }
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(me.as_bytes())?;
            return Ok(Ok(Lock {
                file,
                path: path.to_owned(),
            }));
        }
    }
}

impl Drop for Lock {
    /// Removes the file while still holding the lock (a waiter then sees it is gone and
    /// opens a new one); the lock itself goes with the file handle.
    fn drop(&mut self) {
        if same_file(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// What the holder wrote: it writes just after it locks, so look again for a moment.
fn holder(file: &mut File) -> String {
    for _ in 0..20 {
        let mut text = String::new();
        if file.rewind().is_ok() && file.read_to_string(&mut text).is_ok() && !text.is_empty() {
            return text;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_held_once_names_its_holder_and_is_gone_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e-x.lock");
        let first = Lock::take(&path, "h/1/2").unwrap().unwrap();
        let second = Lock::take(&path, "h/3/4").unwrap();
        assert_eq!(second.unwrap_err(), "h/1/2");
        drop(first);
        assert!(!path.exists(), "released and removed");
        let third = Lock::take(&path, "h/3/4").unwrap();
        assert!(third.is_ok());
    }

    #[test]
    fn a_symlink_is_never_a_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, "precious").unwrap();
        let path = dir.path().join("e-x.lock");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(Lock::take(&path, "h/1/2").is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    }
}
