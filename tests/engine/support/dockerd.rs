//! Restarting the engine the way scripts/provision-engine.sh starts it (there is no
//! systemd on the test machines): the same `dockerd` command line, in a session of its
//! own (`setsid nohup`), its output appended to the provisioning log; then wait until
//! `docker info` answers. [`Restarted`] starts it again when dropped if it is not there,
//! so a failing test never leaves the machine without an engine.
//!
//! Only for tests that hold the engine [`alone`](super::alone): a restart stops every
//! container on it.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long dockerd may take to stop, and to answer again.
const PATIENCE: Duration = Duration::from_secs(90);

/// The `PATH` a process runs with: dockerd finds containerd and its helpers there, and
/// the newest engine's are not the machine's (see scripts/provision-engine.sh).
fn path_of(pid: u32) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ
        .split(|b| *b == 0)
        .find_map(|v| v.strip_prefix(b"PATH="))
        .map(|p| String::from_utf8_lossy(p).into_owned())
}

/// The running dockerd: its pid and command line.
pub fn running() -> Option<(u32, Vec<String>)> {
    let from_pidfile = ["/var/run/docker.pid", "/run/docker.pid"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .filter_map(|p| p.trim().parse::<u32>().ok())
        .find(|pid| is_dockerd(*pid));
    let pid = from_pidfile.or_else(|| {
        std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|pid| is_dockerd(*pid))
    })?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!args.is_empty()).then_some((pid, args))
}

fn is_dockerd(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "dockerd")
}

pub fn answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) -> Result<(), String> {
    let start = Instant::now();
    while !ok() {
        if start.elapsed() > PATIENCE {
            return Err(format!("{what}: not after {PATIENCE:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

fn log_file() -> PathBuf {
    std::env::var_os("NETFENCE_DOCKERD_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/var/log/netfence-dockerd.log".into())
}

/// `setsid nohup dockerd ARGS… </dev/null >>LOG 2>&1 &` through a shell that exits at
/// once: dockerd is nobody's child, as after provisioning.
fn start(args: &[String], path: Option<&str>) -> Result<(), String> {
    let quoted: Vec<String> = args
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let log = log_file();
    let script = format!(
        "setsid nohup {} </dev/null >>'{}' 2>&1 &",
        quoted.join(" "),
        log.display()
    );
    let mut sh = Command::new("sh");
    if let Some(p) = path {
        sh.env("PATH", p);
    }
    let status = sh
        .args(["-c", &script])
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("starting dockerd: {e}"))?;
    if !status.success() {
        return Err(format!("starting dockerd: {status}"));
    }
    wait_until("dockerd answering", answers)
}

/// The engine, restarted; starts it again on drop if it is not running then.
pub struct Restarted {
    args: Vec<String>,
    path: Option<String>,
    /// How long it was away.
    pub down_for: Duration,
}

/// Stops dockerd (SIGTERM, as `systemctl restart` would), starts it with the same
/// command line, waits until it answers.
pub fn restart() -> Result<Restarted, String> {
    let (pid, args) = running().ok_or("no dockerd process on this machine")?;
    let path = path_of(pid);
    let t0 = Instant::now();
    let mut guard = Restarted {
        args: args.clone(),
        path: path.clone(),
        down_for: Duration::ZERO,
    };
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    wait_until("dockerd stopping", || !is_dockerd(pid))?;
    start(&args, path.as_deref())?;
    guard.down_for = t0.elapsed();
    Ok(guard)
}

impl Drop for Restarted {
    fn drop(&mut self) {
        if answers() {
            return;
        }
        if running().is_none() {
            if let Err(e) = start(&self.args, self.path.as_deref()) {
                eprintln!("ENGINE NOT RESTARTED: {e}; start it with scripts/provision-engine.sh");
            }
        } else if let Err(e) = wait_until("dockerd answering", answers) {
            eprintln!("ENGINE NOT ANSWERING: {e}");
        }
    }
}
