//! Host paths as Compose will resolve them, to find an engine's socket and files outside
//! the project: relative paths from the project directory, `~` from the home directory
//! (variables are filled in before, by the judged view).

use std::path::{Component, Path, PathBuf};

use crate::load::host::{Entry, Host};

/// Where an engine's API socket lives on Linux hosts (`/var/run` is `/run` on most):
/// Docker's, and containerd's and Podman's, which command containers as well.
const SOCKETS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/podman/podman.sock",
    "/var/run/podman/podman.sock",
];

/// A project's directory on the host it is judged against.
#[derive(Clone, Copy)]
pub(super) struct Home<'a> {
    pub dir: &'a Path,
    pub host: &'a dyn Host,
}

/// The absolute, lexically normalised path a bind source names; `~` is the home
/// directory, as Compose expands it.
pub(super) fn resolve(host: &dyn Host, source: &str, project_dir: Option<&Path>) -> PathBuf {
    let expanded = match (source.strip_prefix('~'), host.home()) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{}{rest}", home.display())
        }
        _ => source.to_owned(),
    };
    let path = Path::new(&expanded);
    match (path.is_absolute(), project_dir) {
        (false, Some(dir)) => normalise(&dir.join(path)),
        _ => normalise(path),
    }
}

/// `path` from the root with `.` and `..` taken lexically.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// Is the path an engine's socket, a directory holding one, a socket named like one, or
/// the host's `/proc` (`/proc/1/root` is the host's whole file system)? Symbolic links
/// on the host are followed: the engine follows them when it mounts.
pub(super) fn exposes_docker_socket(host: &dyn Host, path: &Path) -> bool {
    let real = Some(real(host, path));
    std::iter::once(path).chain(real.as_deref()).any(|p| {
        SOCKETS.iter().any(|s| Path::new(s).starts_with(p))
            || p.starts_with("/proc")
            || p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                ["docker.sock", "containerd.sock", "podman.sock"]
                    .iter()
                    .any(|s| n.ends_with(s))
            })
    })
}

/// Whether `path` (resolved) lies inside the project's directory, links followed.
pub(super) fn inside(host: &dyn Host, path: &Path, project_dir: &Path) -> bool {
    let home = host
        .canonical(project_dir)
        .unwrap_or_else(|| project_dir.to_path_buf());
    real(host, path).starts_with(&home)
}

/// Where `path` leads once every link of its longest existing part is followed: the
/// engine creates a missing bind source through the links above it, so a missing
/// `./link-to-root/new` is `/new`.
pub(super) fn real(host: &dyn Host, path: &Path) -> PathBuf {
    real_after(host, path, 0)
}

/// How many links [`real`] follows by their text before it gives up.
const MAX_LINKS: usize = 40;

/// [`real`], `hops` links followed by their text so far. A link that cannot be
/// followed to its end here (its target missing, or behind a directory netfence may
/// not search while the engine, as root, may) is followed by what it says; past
/// [`MAX_LINKS`] the answer is the root, outside every project.
fn real_after(host: &dyn Host, path: &Path, hops: usize) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    let rest_onto = |base: PathBuf, rest: &[std::ffi::OsString]| {
        rest.iter()
            .rev()
            .fold(base, |acc: PathBuf, part| acc.join(part))
    };
    loop {
        if let Some(found) = host.canonical(&existing) {
            return rest_onto(found, &rest);
        }
        if host.entry(&existing) == Entry::Link {
            let Some(target) = host.read_link(&existing).filter(|_| hops < MAX_LINKS) else {
                return PathBuf::from("/");
            };
            let parent = existing.parent().unwrap_or(Path::new("/"));
            let next = rest_onto(normalise(&parent.join(target)), &rest);
            return real_after(host, &next, hops + 1);
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                existing = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::host::Disk;

    #[test]
    fn the_socket_its_directories_and_look_alikes_are_found() {
        let dir = Path::new("/srv/tenant/app");
        for s in [
            "/var/run/docker.sock",
            "/var/run",
            "/run",
            "/",
            "../../../../var/run/docker.sock",
            "/run/user/1000/docker.sock",
            "/proc/1/root",
            "/run/containerd",
        ] {
            assert!(
                exposes_docker_socket(&Disk, &resolve(&Disk, s, Some(dir))),
                "{s}"
            );
        }
        for s in ["./data", "/srv/data", "/var/lib/app", "docker.sock.d/x"] {
            assert!(
                !exposes_docker_socket(&Disk, &resolve(&Disk, s, Some(dir))),
                "{s}"
            );
        }
    }
}
