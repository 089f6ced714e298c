//! Shared helpers for tests that need a real Docker engine and Compose v2.
//!
//! ```ignore
//! use crate::binary::Netfence;
//! use crate::support::*;
//!
//! #[test]
//! fn something_on_the_engine() {
//!     let Some(e2e) = E2e::start("mytest") else { return };   // skips, or fails in CI
//!     let dir = e2e.fixture("stack7");                         // private copy of fixtures/e2e/stack7
//!     Netfence::new().args(["run", "-f"]).arg(dir.join("compose.yml")) ... .run().success();
//!     assert!(e2e.leftovers().is_empty());                     // every object of the scope is gone
//! }                                                            // drop: removes whatever is left
//! ```
//!
//! `NETFENCE_E2E=require` (CI) turns "no engine" into a test failure; otherwise such
//! tests print a loud SKIPPED line and pass.
//!
//! The engine tests share one process, and all share the engine, each with its own ids
//! and labels. The few that act on the whole engine run [`alone`].
#![allow(dead_code)]

pub mod dockerd;
pub mod platform;
pub mod relay;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// The local test image: busybox with its applet links, no registry needed.
pub const IMAGE: &str = "netfence-busybox:latest";

/// Runs `docker ARGS…`, returning its output (never panics on failure).
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker: {e}"))
}

/// `docker ARGS…` that must succeed; its stdout, trimmed.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The major version of the engine under test.
pub fn engine_major() -> u32 {
    let v = docker_ok(&["version", "--format", "{{.Server.Version}}"]);
    v.trim()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("engine version {v:?}"))
}

/// Is an engine there (and Compose v2, and the busybox image, built if missing)?
/// Panics under `NETFENCE_E2E=require` when not.
pub fn engine_ready() -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let r = READY.get_or_init(|| {
        let info = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdin(Stdio::null())
            .output();
        match info {
            Ok(o) if o.status.success() => {}
            Ok(o) => return Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
            Err(e) => return Err(format!("docker CLI: {e}")),
        }
        let compose = docker(&["compose", "version"]);
        if !compose.status.success() {
            return Err("`docker compose` (Compose v2) is not installed".into());
        }
        ensure_busybox_image()
    });
    match r {
        Ok(()) => true,
        Err(why) => {
            if std::env::var("NETFENCE_E2E").as_deref() == Ok("require") {
                panic!("NETFENCE_E2E=require but the engine is not usable: {why}");
            }
            eprintln!(
                "\n*** SKIPPED: engine test needs Docker + Compose v2 ({why}); run scripts/provision-engine.sh, or set NETFENCE_E2E=require to fail instead ***\n"
            );
            false
        }
    }
}

/// Builds [`IMAGE`] from the host's static busybox when absent: a root filesystem with
/// `/bin/busybox` and its applet links, `tar | docker import` (no registry).
pub fn ensure_busybox_image() -> Result<(), String> {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if docker(&["image", "inspect", IMAGE]).status.success() {
        return Ok(());
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .ok_or("no /bin/busybox to build the test image from (apt-get install busybox-static)")?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let r = root.path();
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "proc", "sys", "dev",
    ] {
        std::fs::create_dir_all(r.join(d)).map_err(|e| e.to_string())?;
    }
    std::fs::copy(busybox, r.join("bin/busybox")).map_err(|e| e.to_string())?;
    let list = Command::new(busybox)
        .arg("--list-full")
        .output()
        .map_err(|e| e.to_string())?;
    for app in String::from_utf8_lossy(&list.stdout).lines() {
        if app.is_empty() || app == "bin/busybox" {
            continue;
        }
        let p = r.join(app);
        if let Some(parent) = p.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::os::unix::fs::symlink("/bin/busybox", &p);
    }
    std::fs::write(r.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
        .map_err(|e| e.to_string())?;
    let tar = Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(r)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let import = Command::new("docker")
        .args([
            "import",
            "--change",
            "CMD [\"/bin/sh\"]",
            "--change",
            "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "-",
            IMAGE,
        ])
        .stdin(tar.stdout.expect("piped"))
        .output()
        .map_err(|e| e.to_string())?;
    if !import.status.success() {
        return Err(format!(
            "docker import: {}",
            String::from_utf8_lossy(&import.stderr)
        ));
    }
    Ok(())
}

/// A run id no other test (or earlier test run) uses: `<tag>-<pid>-<n>`.
pub fn unique_id(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() % 10_000)
        .unwrap_or(0);
    format!("{tag}-{}{nanos:04}{n}", std::process::id() % 100_000)
}

/// What of a scope (`run:<id>` / `env:<name>`) is on the engine: `container x`, ….
pub fn leftovers_of(scope: &str) -> Vec<String> {
    let filter = format!("label=io.netfence.scope={scope}");
    let mut out = Vec::new();
    for (kind, args) in [
        (
            "container",
            vec!["ps", "-a", "--format", "{{.Names}}", "--filter", &filter],
        ),
        (
            "network",
            vec![
                "network",
                "ls",
                "--format",
                "{{.Name}}",
                "--filter",
                &filter,
            ],
        ),
        (
            "volume",
            vec!["volume", "ls", "--format", "{{.Name}}", "--filter", &filter],
        ),
    ] {
        let o = docker(&args);
        for name in String::from_utf8_lossy(&o.stdout).lines() {
            if !name.trim().is_empty() {
                out.push(format!("{kind} {name}"));
            }
        }
    }
    out
}

/// Is this leftover (`network NAME`, from `leftovers_of`) an empty network the engine
/// refuses to remove ("active endpoints": a Docker 20.10 defect only a dockerd restart
/// clears)? Said loudly when so: such a network is the engine's, not netfence's, and
/// `run` warns about it the same way.
pub fn is_phantom_network(leftover: &str) -> bool {
    let Some(name) = leftover.strip_prefix("network ") else {
        return false;
    };
    let members = docker(&[
        "network",
        "inspect",
        name,
        "--format",
        "{{len .Containers}}",
    ]);
    if String::from_utf8_lossy(&members.stdout).trim() != "0" {
        return false;
    }
    let rm = docker(&["network", "rm", name]);
    let phantom =
        !rm.status.success() && String::from_utf8_lossy(&rm.stderr).contains("active endpoints");
    if phantom {
        eprintln!("ENGINE DEFECT (not counted as a leftover): network {name} is empty but the engine keeps a phantom endpoint on it");
    }
    phantom
}

/// Removes every object of a scope, by its label (containers, networks, volumes).
pub fn remove_scope(scope: &str) {
    let filter = format!("label=io.netfence.scope={scope}");
    let ids = |args: &[&str]| -> Vec<String> {
        String::from_utf8_lossy(&docker(args).stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let containers = ids(&["ps", "-aq", "--filter", &filter]);
    if !containers.is_empty() {
        let mut a = vec!["rm", "-f", "-v"];
        a.extend(containers.iter().map(String::as_str));
        docker(&a);
    }
    for n in ids(&["network", "ls", "-q", "--filter", &filter]) {
        docker(&["network", "rm", &n]);
    }
    let vols = ids(&["volume", "ls", "-q", "--filter", &filter]);
    if !vols.is_empty() {
        let mut a = vec!["volume", "rm", "-f"];
        a.extend(vols.iter().map(String::as_str));
        docker(&a);
    }
}

/// Engine tests take turns on the engine through this lock: each [`E2e`] holds a shared
/// turn for the length of its test, and a test that acts on the whole engine takes it
/// whole with [`alone`].
static ENGINE: RwLock<()> = RwLock::new(());

thread_local! {
    /// Whether this thread's test holds the engine [`alone`]: its own [`E2e::start`] then
    /// takes no shared turn (it would wait for itself).
    static ALONE: Cell<bool> = const { Cell::new(false) };
}

/// The whole engine, for one test: waits until the other engine tests of this process
/// have finished, and holds new ones back until it is dropped. For the tests that act on
/// more than their own objects:
///
/// - `gc --older-than 0s` removes every run scope whose owner process is gone, and other
///   tests leave such scopes up on purpose for a while (`run --keep`, networks they create
///   and label by hand): it would remove them under those tests, and could fail on an
///   object that another test is removing at the same moment.
/// - The Swarm test makes the engine a swarm manager and leaves the swarm again, which
///   creates and removes engine-wide networks (`ingress`, `docker_gwbridge`).
///
/// As separate test binaries, these never ran beside another test of the suite; they
/// still do not. Take it first thing in the test, before [`E2e::start`]: the local that
/// holds it is then dropped last, after the test's clean-up.
pub fn alone() -> Alone {
    let guard = ENGINE.write().unwrap_or_else(PoisonError::into_inner);
    ALONE.with(|a| a.set(true));
    Alone { _guard: guard }
}

pub struct Alone {
    _guard: RwLockWriteGuard<'static, ()>,
}

impl Drop for Alone {
    fn drop(&mut self) {
        ALONE.with(|a| a.set(false));
    }
}

/// One engine test: its run ids, and a guard that removes everything labelled with
/// their scopes when the test ends, passed or failed.
pub struct E2e {
    pub id: String,
    scopes: Mutex<Vec<String>>,
    dirs: Mutex<Vec<tempfile::TempDir>>,
    /// A shared turn on the engine (none when the test has it [`alone`]); released after
    /// the clean-up in `drop`.
    _turn: Option<RwLockReadGuard<'static, ()>>,
}

impl E2e {
    /// `None` (after a loud SKIPPED line) when there is no engine and it is not required.
    /// Waits while a test has the engine [`alone`].
    pub fn start(tag: &str) -> Option<E2e> {
        if !engine_ready() {
            return None;
        }
        let turn =
            (!ALONE.with(Cell::get)).then(|| ENGINE.read().unwrap_or_else(PoisonError::into_inner));
        let id = unique_id(tag);
        Some(E2e {
            scopes: Mutex::new(vec![format!("run:{id}")]),
            id,
            dirs: Mutex::new(Vec::new()),
            _turn: turn,
        })
    }

    /// Another run id, also cleaned up at the end: `<id>-<suffix>`.
    pub fn run_id(&self, suffix: &str) -> String {
        let id = format!("{}-{suffix}", self.id);
        self.guard(&format!("run:{id}"));
        id
    }

    /// Also clean up this scope at the end (e.g. `run:<id>-0` of `--parallel`).
    pub fn guard(&self, scope: &str) {
        self.scopes.lock().unwrap().push(scope.to_owned());
    }

    /// What of this test's scopes is still on the engine.
    pub fn leftovers(&self) -> Vec<String> {
        self.scopes
            .lock()
            .unwrap()
            .iter()
            .flat_map(|s| leftovers_of(s))
            .collect()
    }

    /// A private copy of `fixtures/e2e/<name>`, so files netfence writes beside the
    /// compose file never land in the source tree.
    pub fn fixture(&self, name: &str) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/e2e")
            .join(name);
        let dir = tempfile::Builder::new()
            .prefix(&format!("nf-{name}-"))
            .tempdir()
            .unwrap();
        let dst = dir.path().join(name);
        copy_dir(&src, &dst);
        self.dirs.lock().unwrap().push(dir);
        dst
    }
}

impl E2e {
    /// Removes every scope of this test now (again when dropped: a no-op then).
    pub fn remove_scopes(&self) {
        for s in self.scopes.lock().unwrap().iter() {
            remove_scope(s);
        }
    }
}

impl Drop for E2e {
    fn drop(&mut self) {
        self.remove_scopes();
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// `docker exec CONTAINER sh -c SCRIPT`: (exit 0?, stdout+stderr).
pub fn exec(container: &str, script: &str) -> (bool, String) {
    let o = docker(&["exec", container, "sh", "-c", script]);
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.success(), text)
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Combined output for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
