//! `ensure` and `reconcile` on bad input and without an engine: no engine needed.

use std::process::Command;

fn netfence(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netfence"))
        .args(args)
        .env_remove("COMPOSE_FILE")
        .env_remove("NETFENCE_RUN_ID")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ensure_needs_an_environment() {
    let (code, out, err) = netfence(&["ensure"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(out.is_empty());
    assert!(err.contains("give --env NAME"), "{err}");
    let (code, _, err) = netfence(&["ensure", "--run-id", "r1"]);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn ensure_checks_the_policy_before_the_engine() {
    let (code, _, err) = netfence(&[
        "ensure",
        "--env",
        "bad env",
        "--policy",
        "fixtures/platform/limits/policy.yml",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a valid scope id"), "{err}");
}

#[test]
fn reconcile_needs_a_project() {
    let (code, out, err) =
        netfence(&["reconcile", "-f", "fixtures/platform/reconcile/compose.yml"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(out.is_empty());
    assert!(err.contains("-p PROJECT"), "{err}");
}

#[test]
fn an_unreachable_engine_is_one_line_naming_where_netfence_looked() {
    let out = Command::new(env!("CARGO_BIN_EXE_netfence"))
        .args(["ensure", "--env", "nowhere"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env_remove("COMPOSE_FILE")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("DOCKER_HOST"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn plan_names_bare_names_two_projects_share_on_environment_and_shared_networks() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yml");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/platform/stacks/policy-traefik.yml"
    ))
    .unwrap();
    std::fs::write(&policy, text.replace("@ID@", "t1")).unwrap();
    for project in ["shop", "blog"] {
        let file = format!("fixtures/platform/stacks/{project}.yml");
        let (code, out, err) = netfence(&[
            "plan",
            "-f",
            &file,
            "--env",
            "e1",
            "-p",
            project,
            "--policy",
            policy.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(0), "{err}");
        // Both projects have a `db` on the environment network and on the shared one.
        assert!(
            out.contains(&format!(
                "network nf-env-e1: service `db` answers to its bare name on this network, which other projects share: if another project answers to `db` here, DNS picks one at random — use `db.{project}`"
            )),
            "{out}"
        );
        assert!(
            out.contains("network nfp-t1-infra: service `db` answers to its bare name"),
            "{out}"
        );
    }
}
