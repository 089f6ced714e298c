//! Faults on a real engine: signals during `up` and during CMD, SIGKILL then `gc`, and
//! `gc` never touching what netfence does not own. Needs Docker + Compose v2.

use std::path::Path;
use std::time::Duration;

use crate::binary::{Netfence, Outcome, Running};
use crate::support::*;

fn spawn_run(dir: &Path, id: &str, cmd: &[&str]) -> Running {
    Netfence::new()
        .args(["run", "-f"])
        .arg(dir.join("compose.yml"))
        .args(["--run-id", id, "--timeout", "120s", "--"])
        .args(cmd)
        .spawn()
}

fn kill(pid: u32, signal: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} {pid}");
}

fn count(args: &[&str]) -> usize {
    String::from_utf8_lossy(&docker(args).stdout)
        .split_whitespace()
        .count()
}

fn wait_exit(child: Running, what: &str) -> Outcome {
    let out = child.wait();
    eprintln!("{what}: {out}");
    out
}

/// `gc --older-than 0s`, which must succeed, except for objects of other tests' runs
/// that the engine refuses to remove (Docker 20.10 can keep a network with a stale
/// endpoint after a failed container start; only a daemon restart frees it).
fn gc(e2e: &E2e) -> Outcome {
    let out = Netfence::new().args(["gc", "--older-than", "0s"]).run();
    if out.status().code() != Some(0) {
        let err = out.stderr();
        let ours = err
            .lines()
            .filter(|l| l.contains("error"))
            .any(|l| l.contains(&e2e.id) || !l.contains("has active endpoints"));
        assert!(!ours, "gc failed on this test's objects: {out}");
        eprintln!("gc could not remove another run's object (engine bug): {err}");
    }
    out
}

/// A signal while the stack is starting: `phase` picks the moment (the first network
/// exists, or the first container does).
fn signal_during_up(tag: &str, signal: &str, containers_first: bool, want: i32) {
    let Some(e2e) = E2e::start(tag) else { return };
    let dir = e2e.fixture("slow");
    let child = spawn_run(&dir, &e2e.id, &["true"]);
    let filter = format!("label=io.netfence.scope=run:{}", e2e.id);
    wait_for(
        "the run to start creating things",
        Duration::from_secs(60),
        || {
            let n = if containers_first {
                count(&["ps", "-aq", "--filter", &filter])
            } else {
                count(&["network", "ls", "-q", "--filter", &filter])
            };
            (n > 0).then_some(())
        },
    );
    kill(child.id(), signal);
    wait_exit(child, signal)
        .code(want)
        .stderr_has("tearing it down");
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}

#[test]
fn sigint_during_up_leaves_nothing() {
    signal_during_up("intup", "INT", false, 130);
}

#[test]
fn sigterm_during_the_wait_for_health_leaves_nothing() {
    signal_during_up("termwait", "TERM", true, 143);
}

/// CMD writes its pid to a file and sleeps; `signal` goes to netfence, which forwards it.
fn signal_during_cmd(tag: &str, signal: &str, want: i32) {
    let Some(e2e) = E2e::start(tag) else { return };
    let dir = e2e.fixture("small");
    let mark = dir.join("cmd.pid");
    let script = format!("echo $$ > {}; exec sleep 60", mark.display());
    let child = spawn_run(&dir, &e2e.id, &["sh", "-c", &script]);
    wait_for("CMD to start", Duration::from_secs(60), || {
        std::fs::read_to_string(&mark)
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    kill(child.id(), signal);
    // CMD's status.
    wait_exit(child, signal).code(want);
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}

#[test]
fn sigint_during_cmd_is_forwarded_and_leaves_nothing() {
    signal_during_cmd("intcmd", "INT", 130);
}

#[test]
fn sigterm_during_cmd_is_forwarded_and_leaves_nothing() {
    signal_during_cmd("termcmd", "TERM", 143);
}

#[test]
fn a_second_signal_during_teardown_does_not_skip_it_silently() {
    let Some(e2e) = E2e::start("twice") else {
        return;
    };
    let dir = e2e.fixture("small");
    let mark = dir.join("cmd.pid");
    let script = format!("echo $$ > {}; exec sleep 60", mark.display());
    let child = spawn_run(&dir, &e2e.id, &["sh", "-c", &script]);
    wait_for("CMD to start", Duration::from_secs(60), || {
        std::fs::read_to_string(&mark)
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    kill(child.id(), "INT");
    std::thread::sleep(Duration::from_millis(300));
    kill(child.id(), "INT");
    let err = wait_exit(child, "INT INT").stderr();
    assert!(
        err.contains("still tearing down") || e2e.leftovers().is_empty(),
        "either it says so, or tear-down had already finished: {err}"
    );
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}

#[test]
fn sigkill_then_gc_leaves_nothing() {
    // `gc --older-than 0s` would take other tests' kept runs: no other test meanwhile.
    let _alone = alone();
    let Some(e2e) = E2e::start("kill9") else {
        return;
    };
    let dir = e2e.fixture("small");
    let mark = dir.join("cmd.pid");
    let script = format!("echo $$ > {}; exec sleep 60", mark.display());
    let child = spawn_run(&dir, &e2e.id, &["sh", "-c", &script]);
    let cmd_pid = wait_for("CMD to start", Duration::from_secs(60), || {
        std::fs::read_to_string(&mark)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
    });
    kill(child.id(), "KILL");
    kill(cmd_pid, "KILL"); // the orphaned CMD, which holds netfence's stdout open
    let _ = wait_exit(child, "KILL");
    assert!(!e2e.leftovers().is_empty(), "SIGKILL leaves the stack up");
    // gc names what it removed.
    gc(&e2e).stdout_has(&format!("(run:{})", e2e.id));
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}

#[test]
fn gc_spares_live_runs_unlabelled_decoys_and_persistent_networks() {
    // `gc --older-than 0s` would take other tests' kept runs: no other test meanwhile.
    let _alone = alone();
    let Some(e2e) = E2e::start("decoy") else {
        return;
    };
    let decoy = format!("decoy-{}", e2e.id);
    let proxy = format!("nf-proxy-{}", e2e.id);
    let dead = e2e.run_id("dead");
    struct Cleanup(Vec<(&'static str, String)>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for (kind, name) in &self.0 {
                match *kind {
                    "container" => docker(&["rm", "-f", name]),
                    _ => docker(&["network", "rm", name]),
                };
            }
        }
    }
    let _cleanup = Cleanup(vec![
        ("container", decoy.clone()),
        ("network", decoy.clone()),
        ("network", proxy.clone()),
    ]);
    // Unlabelled: a network and a container on it (old enough for any --older-than).
    docker_ok(&["network", "create", &decoy]);
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &decoy,
        "--network",
        &decoy,
        "--init",
        IMAGE,
        "sleep",
        "600",
    ]);
    // A persistent proxy network netfence made: carries managed=true, but no run owns it.
    docker_ok(&[
        "network",
        "create",
        "--label",
        "io.netfence.managed=true",
        "--label",
        "io.netfence.role=proxy",
        &proxy,
    ]);
    // A run whose owner is gone (a dead pid on this host).
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let owner = format!("io.netfence.owner={}/4194999/1", host.trim());
    docker_ok(&[
        "network",
        "create",
        "--label",
        "io.netfence.managed=true",
        "--label",
        &format!("io.netfence.scope=run:{dead}"),
        "--label",
        &owner,
        &format!("nf-{dead}-x"),
    ]);
    // A live run: netfence run is in its CMD while gc runs.
    let dir = e2e.fixture("small");
    let mark = dir.join("cmd.pid");
    let script = format!("echo $$ > {}; exec sleep 60", mark.display());
    let child = spawn_run(&dir, &e2e.id, &["sh", "-c", &script]);
    wait_for("CMD to start", Duration::from_secs(60), || {
        std::fs::read_to_string(&mark)
            .ok()
            .filter(|s| s.ends_with('\n'))
    });

    Netfence::new()
        .args(["gc", "--older-than", "0s", "--dry-run"])
        .run()
        .success()
        .stdout_has(&format!("would remove network nf-{dead}-x"));
    assert!(
        !leftovers_of(&format!("run:{dead}")).is_empty(),
        "--dry-run removes nothing"
    );

    let out = gc(&e2e);
    assert!(
        leftovers_of(&format!("run:{dead}")).is_empty(),
        "the dead run is collected"
    );
    for (what, args) in [
        (
            "decoy container",
            vec!["container", "inspect", decoy.as_str()],
        ),
        ("decoy network", vec!["network", "inspect", decoy.as_str()]),
        ("proxy network", vec!["network", "inspect", proxy.as_str()]),
    ] {
        assert!(docker(&args).status.success(), "{what} survives gc: {out}");
    }
    assert_eq!(
        docker_ok(&["inspect", "-f", "{{.State.Running}}", &decoy]),
        "true",
        "the decoy container still runs"
    );
    assert!(
        !leftovers_of(&format!("run:{}", e2e.id)).is_empty(),
        "the live run is not collected"
    );
    kill(child.id(), "TERM");
    wait_exit(child, "TERM").code(143);
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}
