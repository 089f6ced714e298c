//! `ensure` and `reconcile` on bad input and without an engine: no engine needed.

use crate::binary::Netfence;

/// The binary, run in the repository (the fixture paths are relative to it).
fn netfence() -> Netfence {
    crate::netfence_offline().current_dir(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn ensure_needs_an_environment() {
    netfence()
        .arg("ensure")
        .run()
        .code(2)
        .stdout_is("")
        .stderr_has("give --env NAME");
    netfence().args(["ensure", "--run-id", "r1"]).run().code(2);
}

#[test]
fn ensure_checks_the_policy_before_the_engine() {
    netfence()
        .args([
            "ensure",
            "--env",
            "bad env",
            "--policy",
            "fixtures/platform/limits/policy.yml",
        ])
        .run()
        .code(2)
        .stderr_has("not a valid scope id");
}

#[test]
fn reconcile_needs_a_project() {
    netfence()
        .args(["reconcile", "-f", "fixtures/platform/reconcile/compose.yml"])
        .run()
        .code(2)
        .stdout_is("")
        .stderr_has("-p PROJECT");
}

#[test]
fn an_unreachable_engine_is_one_line_naming_where_netfence_looked() {
    let out = netfence()
        .args(["ensure", "--env", "nowhere"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    out.code(3).stderr_has("DOCKER_HOST");
    let err = out.stderr();
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
        // Both projects have a `db` on the environment network and on the shared one.
        netfence()
            .args(["plan", "-f", &file, "--env", "e1", "-p", project, "--policy"])
            .arg(&policy)
            .run()
            .success()
            .stdout_has(&format!(
                "network nf-env-e1: service `db` answers to its bare name on this network, which other projects share: its own project asks its own networks first, but another project's service that asks for `db` and has none of its own gets this one — use `db.{project}`"
            ))
            .stdout_has("network nfp-t1-infra: service `db` answers to its bare name");
    }
}
