//! Bind-mount sources as Compose will resolve them, to find the Docker socket: variables
//! from the environment (or their defaults), relative paths from the project directory.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

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

/// `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?msg}`, `$VAR` and `$$` as
/// Compose interpolates them; an unknown variable without a default is empty.
pub(super) fn interpolate(text: &str, environ: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('{') {
            let end = r.find('}').unwrap_or(r.len());
            out.push_str(&braced(&r[..end], environ));
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            out.push_str(environ.get(&rest[..end]).map_or("", String::as_str));
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

fn braced(expr: &str, environ: &BTreeMap<String, String>) -> String {
    for (op, unset_only) in [(":-", false), ("-", true), (":?", false), ("?", true)] {
        if let Some((name, default)) = expr.split_once(op) {
            let value = environ.get(name);
            let use_default = match value {
                None => true,
                Some(v) => v.is_empty() && !unset_only,
            };
            return match (use_default, op.ends_with('-')) {
                (true, true) => interpolate(default, environ),
                (true, false) => String::new(),
                (false, _) => value.cloned().unwrap_or_default(),
            };
        }
    }
    environ.get(expr).cloned().unwrap_or_default()
}

/// The absolute, lexically normalised path a bind source names; `~` is the home
/// directory, as Compose expands it.
pub(super) fn resolve(source: &str, project_dir: Option<&Path>) -> PathBuf {
    let expanded = match (source.strip_prefix('~'), std::env::var("HOME")) {
        (Some(rest), Ok(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => source.to_owned(),
    };
    let path = Path::new(&expanded);
    let joined = match (path.is_absolute(), project_dir) {
        (false, Some(dir)) => dir.join(path),
        _ => path.to_path_buf(),
    };
    let mut out = PathBuf::from("/");
    for c in joined.components() {
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
pub(super) fn exposes_docker_socket(path: &Path) -> bool {
    let real = std::fs::canonicalize(path).ok();
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
pub(super) fn inside(path: &Path, project_dir: &Path) -> bool {
    let home = std::fs::canonicalize(project_dir).unwrap_or_else(|_| project_dir.to_path_buf());
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    real.starts_with(&home) || (path.starts_with(project_dir) && !path.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn variables_resolve_as_compose_does() {
        let e = env(&[("SOCK", "/var/run/docker.sock"), ("EMPTY", "")]);
        assert_eq!(interpolate("${SOCK}", &e), "/var/run/docker.sock");
        assert_eq!(interpolate("$SOCK:/s", &e), "/var/run/docker.sock:/s");
        assert_eq!(
            interpolate("${NOPE:-/run/docker.sock}", &e),
            "/run/docker.sock"
        );
        assert_eq!(interpolate("${EMPTY:-/d}", &e), "/d");
        assert_eq!(interpolate("${EMPTY-/d}", &e), "");
        assert_eq!(interpolate("$$HOME", &e), "$HOME");
        assert_eq!(interpolate("${NOPE}/x", &e), "/x");
    }

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
            assert!(exposes_docker_socket(&resolve(s, Some(dir))), "{s}");
        }
        for s in ["./data", "/srv/data", "/var/lib/app", "docker.sock.d/x"] {
            assert!(!exposes_docker_socket(&resolve(s, Some(dir))), "{s}");
        }
    }
}
