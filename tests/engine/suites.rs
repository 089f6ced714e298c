//! What test suites ask of `run` (issue 20): logs kept after the stack is gone
//! (`--logs DIR`), waiting until published ports answer (`--wait`), and Compose profiles
//! (`--profile`, `COMPOSE_PROFILES`). Needs Docker + Compose v2 (see support).

use std::path::Path;
use std::time::Duration;

use crate::binary::Netfence;
use crate::support::*;

fn file(dir: &Path) -> String {
    dir.join("compose.yml").to_string_lossy().into_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts that nothing of the run is left on the engine.
fn nothing_left(e2e: &E2e) {
    let left: Vec<String> = e2e
        .leftovers()
        .into_iter()
        .filter(|l| !is_phantom_network(l))
        .collect();
    assert!(left.is_empty(), "left on the engine: {left:?}");
}

/// CMD makes `cache` die (it says why on stderr and exits 7), waits until it is gone,
/// and fails: DIR holds both containers' whole logs and final states, and stderr names
/// DIR and the crashed service with its last lines.
#[test]
fn a_failing_cmd_keeps_every_log_and_names_the_crashed_service() {
    let Some(e2e) = E2e::start("logs") else {
        return;
    };
    let dir = e2e.fixture("logs");
    let logs = dir.join("ci-logs");
    let cmd = r#"docker exec "$NETFENCE_PROJECT-cache-1" touch /tmp/die
        for i in $(seq 100); do
          [ "$(docker inspect -f '{{.State.Status}}' "$NETFENCE_PROJECT-cache-1")" = exited ] && break
          sleep 0.1
        done
        echo "the tests failed"; exit 1"#;
    let out = Netfence::new()
        .args(["run", "-f", &file(&dir), "--run-id", &e2e.id, "--logs"])
        .arg(&logs)
        .args(["--", "sh", "-c", cmd])
        .timeout(Duration::from_secs(180))
        .run();
    out.code(1)
        .stdout_has("the tests failed")
        .stderr_has(&format!("are in {}", logs.display()))
        .stderr_has("service `cache` exited with status 7 during the run")
        .stderr_has("cache-dying-now");

    let web = read(&logs.join("web-1.log"));
    assert!(web.contains(" stdout web-says-hello"), "web-1.log:\n{web}");
    let cache = read(&logs.join("cache-1.log"));
    assert!(
        cache.contains(" stdout cache-ready"),
        "cache-1.log:\n{cache}"
    );
    assert!(
        cache.contains(" stderr cache-dying-now"),
        "cache-1.log:\n{cache}"
    );
    // Every line starts with the engine's timestamp.
    assert!(cache.lines().all(|l| l.starts_with("20")), "{cache}");

    let state: serde_json::Value = serde_json::from_str(&read(&logs.join("cache-1.json"))).unwrap();
    assert_eq!(state["service"], "cache");
    assert_eq!(state["status"], "exited");
    assert_eq!(state["exit_code"], 7);
    assert_eq!(state["restart_count"], 0);
    assert_eq!(state["log"], "cache-1.log");
    let web_state: serde_json::Value =
        serde_json::from_str(&read(&logs.join("web-1.json"))).unwrap();
    assert_eq!(web_state["status"], "running");
    nothing_left(&e2e);
}

/// A service that fails at once: the stack never comes up, and its log is still kept.
#[test]
fn a_stack_that_does_not_come_up_keeps_its_logs() {
    let Some(e2e) = E2e::start("logsup") else {
        return;
    };
    let dir = e2e.fixture("logs");
    // The cache dies before the wait is over: its cue is there from the start.
    let text = read(&dir.join("compose.yml")).replace("[ ! -e /tmp/die ]", "false");
    std::fs::write(dir.join("compose.yml"), text).unwrap();
    let logs = dir.join("ci-logs");
    Netfence::new()
        .args(["run", "-f", &file(&dir), "--run-id", &e2e.id, "--logs"])
        .arg(&logs)
        .args(["--", "true"])
        .timeout(Duration::from_secs(180))
        .run()
        .code(3)
        .stderr_has("the stack did not come up: service `cache` exited with status 7")
        .stderr_has(&format!("are in {}", logs.display()))
        .stderr_has("`cache` (cache-1): exited with status 7; its log is quoted above");
    let cache = read(&logs.join("cache-1.log"));
    assert!(
        cache.contains(" stderr cache-dying-now"),
        "cache-1.log:\n{cache}"
    );
    assert!(logs.join("web-1.log").is_file());
    nothing_left(&e2e);
}

/// What CMD finds on the late service's port the moment it starts: `open` when it
/// answers with its greeting.
const PROBE: &str = r#"if busybox nc -w2 "${NETFENCE_WEB_8080%:*}" "${NETFENCE_WEB_8080#*:}" </dev/null | grep -q hello-late; then echo port-open; else echo port-closed; fi"#;

#[test]
fn wait_ports_waits_for_a_late_listener_and_wait_running_does_not() {
    let Some(e2e) = E2e::start("waitports") else {
        return;
    };
    let dir = e2e.fixture("late-port");
    let run = |wait: &str, id: &str| {
        Netfence::new()
            .args(["run", "-f", &file(&dir), "--run-id", id, "--wait", wait])
            .args(["--", "sh", "-c", PROBE])
            .timeout(Duration::from_secs(180))
            .run()
    };
    run("ports", &e2e.run_id("p"))
        .success()
        .stdout_has("port-open");
    run("running", &e2e.run_id("r"))
        .success()
        .stdout_has("port-closed");
    nothing_left(&e2e);
}

#[test]
fn wait_ports_names_the_port_that_never_answers() {
    let Some(e2e) = E2e::start("waitnever") else {
        return;
    };
    let dir = e2e.fixture("late-port");
    // It never listens on 8080.
    let text = read(&dir.join("compose.yml")).replace("sleep 4", "sleep 100000");
    std::fs::write(dir.join("compose.yml"), text).unwrap();
    Netfence::new()
        .args(["run", "-f", &file(&dir), "--run-id", &e2e.id])
        .args(["--wait", "ports", "--timeout", "5s", "--", "true"])
        .timeout(Duration::from_secs(120))
        .run()
        .code(3)
        .stderr_matches(
            r"service `web` port 8080/tcp \(host 127\.0\.0\.1:\d+\) did not accept a connection",
        )
        .stderr_has("warming-up");
    nothing_left(&e2e);
}

/// The services of the run's project, as CMD sees them on the engine.
const SERVICES: &str = r#"docker ps -a --filter "label=com.docker.compose.project=$NETFENCE_PROJECT" --format '{{.Label "com.docker.compose.service"}}' | sort | tr '\n' ' '"#;

#[test]
fn a_profile_service_is_fenced_always_and_started_only_when_active() {
    let Some(e2e) = E2e::start("profiles") else {
        return;
    };
    let dir = e2e.fixture("profiles");
    // Fenced whatever the profiles: scoped labels, its container_name gone.
    let out = Netfence::new()
        .args(["rewrite", "-f", &file(&dir), "--run-id", &e2e.id])
        .run();
    out.success();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out.stdout()).unwrap();
    let debug = &doc["services"]["debug"];
    assert_eq!(
        debug["labels"]["io.netfence.scope"].as_str(),
        Some(format!("run:{}", e2e.id).as_str()),
        "{}",
        out.stdout()
    );
    assert!(debug.get("container_name").is_none());
    Netfence::new()
        .args(["plan", "-f", &file(&dir), "--run-id", &e2e.id])
        .run()
        .success()
        .stdout_has("fenced, not started by run/up: debug");

    let run = |id: &str, profile: Option<&str>, env: Option<&str>| {
        let mut nf = Netfence::new()
            .args(["run", "-f", &file(&dir), "--run-id", id])
            .env_remove("COMPOSE_PROFILES");
        if let Some(p) = profile {
            nf = nf.args(["--profile", p]);
        }
        if let Some(v) = env {
            nf = nf.env("COMPOSE_PROFILES", v);
        }
        nf.args(["--", "sh", "-c", SERVICES])
            .timeout(Duration::from_secs(180))
            .run()
    };
    run(&e2e.run_id("none"), None, None)
        .success()
        .stdout_is("app ");
    run(&e2e.run_id("flag"), Some("debug"), None)
        .success()
        .stdout_is("app debug ");
    run(&e2e.run_id("env"), None, Some("debug"))
        .success()
        .stdout_is("app debug ");
    // As with Compose, --profile replaces COMPOSE_PROFILES.
    run(&e2e.run_id("both"), Some("other"), Some("debug"))
        .success()
        .stdout_is("app ");
    nothing_left(&e2e);
}

/// `run --reuse`, then the run id it announced and the containers of its stack (id,
/// sorted): what a test loop's second run must find unchanged.
fn reuse_run(dir: &Path, cmd: &str) -> (String, Vec<String>) {
    let out = Netfence::new()
        .current_dir(dir)
        .args([
            "run",
            "--reuse",
            "-f",
            &file(dir),
            "-p",
            "rs",
            "--",
            "sh",
            "-c",
            cmd,
        ])
        .run();
    out.success();
    let err = out.stderr();
    let id = err
        .lines()
        .find_map(|l| l.strip_prefix("netfence: run id "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("the run id is announced:\n{err}"))
        .to_owned();
    assert!(err.contains("kept for reuse"), "{err}");
    let filter = format!("label=io.netfence.scope=run:{id}");
    let ids = docker_ok(&["ps", "-q", "--no-trunc", "--filter", &filter]);
    let mut ids: Vec<String> = ids.split_whitespace().map(str::to_owned).collect();
    ids.sort();
    (id, ids)
}

/// Two `run --reuse` of one input: the second starts no container and its CMD sees the
/// same stack; `ls` shows the stack with its input digest; a changed file gets a stack
/// of its own; `gc --older-than 0s` takes both.
#[test]
fn reuse_keeps_the_stack_for_the_same_input_and_gives_a_changed_one_its_own() {
    // `gc --older-than 0s` takes every kept run on the engine: no other test meanwhile.
    let _alone = alone();
    let Some(e2e) = E2e::start("reuse") else {
        return;
    };
    let dir = e2e.fixture("small");
    let saw = dir.join("saw.txt");
    let cmd = format!("echo $NETFENCE_PROJECT >> {}", saw.display());
    let (first, before) = reuse_run(&dir, &cmd);
    e2e.guard(&format!("run:{first}"));
    assert!(first.starts_with("reuse-"), "{first}");
    assert_eq!(before.len(), 2, "both services up: {before:?}");
    let (again, after) = reuse_run(&dir, &cmd);
    assert_eq!(again, first, "the same input, the same stack");
    assert_eq!(after, before, "no container was created again");
    let seen: Vec<String> = read(&saw).lines().map(str::to_owned).collect();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], seen[1], "both CMDs saw one project");

    let inv = Netfence::new()
        .args(["ls", "--format", "json"])
        .run()
        .success()
        .json();
    let entry = inv["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scope"] == format!("run:{first}"))
        .unwrap_or_else(|| panic!("ls lists run:{first}: {inv:#}"));
    let digest = first.trim_start_matches("reuse-");
    assert_eq!(entry["reuse"]["digest"], digest, "{entry:#}");
    assert!(entry["reuse"]["last_use"].is_string(), "{entry:#}");

    // A changed file is another input: a stack of its own, the first one left as it is.
    let text = read(&dir.join("compose.yml")).replace("hello-app", "hello-changed");
    std::fs::write(dir.join("compose.yml"), text).unwrap();
    let (changed, changed_ids) = reuse_run(&dir, "true");
    e2e.guard(&format!("run:{changed}"));
    assert_ne!(changed, first);
    assert!(changed_ids.iter().all(|c| !before.contains(c)));
    let filter = format!("label=io.netfence.scope=run:{first}");
    assert_eq!(
        docker_ok(&["ps", "-q", "--filter", &filter])
            .split_whitespace()
            .count(),
        2
    );

    Netfence::new()
        .args(["gc", "--older-than", "0s"])
        .run()
        .success();
    for id in [&first, &changed] {
        assert!(
            leftovers_of(&format!("run:{id}")).is_empty(),
            "gc took run:{id}"
        );
    }
}
