//! `ls` and `reconcile --watch` before and without an engine: bad input is exit 2 before
//! the engine is asked, an unreachable engine is exit 3 for `ls` (never an empty
//! listing), and a watcher without an engine keeps trying until it is stopped.

use std::io::{BufRead, BufReader};

use crate::binary::Netfence;

const NOWHERE: &str = "unix:///nonexistent/docker.sock";

/// The binary in the repository, with no engine in reach.
fn netfence() -> Netfence {
    crate::netfence_offline().current_dir(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn ls_on_an_unreachable_engine_is_exit_3_not_an_empty_listing() {
    for format in ["table", "json"] {
        let out = netfence()
            .args(["ls", "--format", format])
            .env("DOCKER_HOST", NOWHERE)
            .run();
        out.code(3).stdout_is("").stderr_has("DOCKER_HOST");
        assert_eq!(out.stderr().trim().lines().count(), 1, "{out}");
    }
}

#[test]
fn ls_checks_its_policy_before_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("policy.yml");
    std::fs::write(&bad, "limits: {max_netwroks: 3}\n").unwrap();
    netfence()
        .args(["ls", "--policy"])
        .arg(&bad)
        .env("DOCKER_HOST", NOWHERE)
        .run()
        .code(2)
        .stderr_has("max_networks");
}

#[test]
fn watch_needs_projects_to_follow() {
    netfence()
        .args([
            "reconcile",
            "--watch",
            "-f",
            "fixtures/platform/reconcile/compose.yml",
        ])
        .env("DOCKER_HOST", NOWHERE)
        .run()
        .code(2)
        .stderr_has("-p NAME (repeatable), or watch.label");
}

#[test]
fn several_projects_are_for_watch_only_and_stdin_is_refused() {
    netfence()
        .args([
            "reconcile",
            "-p",
            "a",
            "-p",
            "b",
            "-f",
            "fixtures/platform/reconcile/compose.yml",
        ])
        .run()
        .code(2)
        .stderr_has("several -p are for `reconcile --watch`");
    netfence()
        .args(["reconcile", "--watch", "-p", "a", "-f", "-"])
        .run()
        .code(2)
        .stderr_has("give paths, not stdin");
    netfence()
        .args(["reconcile", "--watch", "--dry-run", "-p", "a"])
        .run()
        .code(2)
        .stderr_has("--dry-run");
}

#[test]
fn a_watcher_without_an_engine_keeps_trying_and_stops_cleanly() {
    let mut running = netfence()
        .args(["reconcile", "--watch", "-p", "a", "-p", "b"])
        .args(["-f", "fixtures/platform/reconcile/compose.yml"])
        .env("DOCKER_HOST", NOWHERE)
        .spawn();
    let mut lines = BufReader::new(running.take_stdout()).lines();
    for _ in 0..2 {
        let line = lines.next().expect("a record").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "lost", "{line}");
        assert!(
            v["reason"].as_str().unwrap().contains("DOCKER_HOST"),
            "{line}"
        );
    }
    let _ = std::process::Command::new("kill")
        .args(["-INT", &running.id().to_string()])
        .status();
    running.wait().code(0).stderr_has("SIGINT: watch stopped");
}

#[test]
fn the_schema_documents_watch_label() {
    let schema = netfence().arg("schema").run().success().stdout();
    assert!(schema.contains("\"watch\""), "{schema}");
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yml");
    std::fs::write(&policy, "watch: {label: coolify.managed=true}\n").unwrap();
    netfence()
        .args([
            "validate",
            "-f",
            "fixtures/platform/reconcile/compose.yml",
            "--policy",
        ])
        .arg(&policy)
        .run()
        .success();
    std::fs::write(&policy, "watch: {lable: x}\n").unwrap();
    netfence()
        .args([
            "validate",
            "-f",
            "fixtures/platform/reconcile/compose.yml",
            "--policy",
        ])
        .arg(&policy)
        .run()
        .code(2)
        .stderr_has("did you mean `label`");
}
