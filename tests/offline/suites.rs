//! What test suites ask of `run` (issue 20), as far as it shows without an engine: the
//! `--wait`, `--profile` and `--logs` options, and profiles in `rewrite` and `plan`.

use std::path::Path;

const PROFILED: &str = "services:\n  app:\n    image: x\n  debug:\n    image: x\n    container_name: dbg\n    profiles: [debug]\n";

fn project(dir: &Path, dotenv: Option<&str>) -> String {
    std::fs::write(dir.join("compose.yml"), PROFILED).unwrap();
    if let Some(text) = dotenv {
        std::fs::write(dir.join(".env"), text).unwrap();
    }
    dir.join("compose.yml").to_string_lossy().into_owned()
}

fn nf() -> crate::binary::Netfence {
    crate::netfence_offline().env_remove("COMPOSE_PROFILES")
}

#[test]
fn run_help_names_the_waits_and_the_log_bound() {
    nf().args(["run", "--help"])
        .run()
        .success()
        .stdout_has("--wait <WHEN>")
        .stdout_has("ports")
        .stdout_has("running")
        .stdout_has("[default: healthy]")
        .stdout_has("--profile <NAME>")
        .stdout_has("--logs <DIR>")
        .stdout_has("10 MiB");
    nf().args(["up", "--help"])
        .run()
        .success()
        .stdout_has("--wait <WHEN>")
        .stdout_has("--profile <NAME>");
}

#[test]
fn bad_wait_and_profile_values_are_usage_errors() {
    nf().args(["run", "--wait", "forever", "--", "true"])
        .run()
        .code(2)
        .stderr_has("possible values: ports, healthy, running");
    nf().args(["rewrite", "--profile", "no good", "--run-id", "t1"])
        .stdin(PROFILED)
        .run()
        .code(2)
        .stderr_has("a profile name is letters, digits");
}

#[test]
fn every_service_is_fenced_whatever_the_profiles() {
    let d = tempfile::tempdir().unwrap();
    let f = project(d.path(), None);
    let plain = nf().args(["rewrite", "-f", &f, "--run-id", "t1"]).run();
    plain.success().stderr_lacks("profile");
    let with = nf()
        .args(["rewrite", "-f", &f, "--run-id", "t1", "--profile", "other"])
        .run();
    with.success().stderr_has(
        "active profiles other (from --profile): every service is fenced; Compose leaves out debug",
    );
    assert_eq!(plain.stdout(), with.stdout());
    assert!(plain.stdout().contains("  debug:\n"));
    assert!(!plain.stdout().contains("\n    container_name:"));
}

#[test]
fn plan_shows_the_active_profiles_from_flag_environment_or_dotenv() {
    let d = tempfile::tempdir().unwrap();
    let f = project(d.path(), Some("COMPOSE_PROFILES=debug\n"));
    let plan = |extra: &[&str], env: Option<&str>| {
        let mut n = nf().args(["plan", "-f", &f, "--run-id", "t1", "--format", "json"]);
        n = n.args(extra);
        if let Some(v) = env {
            n = n.env("COMPOSE_PROFILES", v);
        }
        n.run().json()["profiles"].clone()
    };
    let from_dotenv = plan(&[], None);
    assert_eq!(from_dotenv["active"], serde_json::json!(["debug"]));
    assert_eq!(from_dotenv["from"], ".env");
    assert_eq!(from_dotenv["inactive_services"], serde_json::json!([]));
    let from_env = plan(&[], Some("ops"));
    assert_eq!(from_env["from"], "COMPOSE_PROFILES");
    assert_eq!(from_env["inactive_services"], serde_json::json!(["debug"]));
    let from_flag = plan(&["--profile", "*"], Some("ops"));
    assert_eq!(from_flag["active"], serde_json::json!(["*"]));
    assert_eq!(from_flag["inactive_services"], serde_json::json!([]));
    nf().args(["plan", "-f", &f, "--run-id", "t1"])
        .env("COMPOSE_PROFILES", "")
        .run()
        .success()
        .stdout_has("profiles: active none\n  fenced, not started by run/up: debug");
}

#[test]
fn a_logs_dir_that_cannot_be_made_is_refused_before_the_engine() {
    let d = tempfile::tempdir().unwrap();
    let f = project(d.path(), None);
    let taken = d.path().join("not-a-dir");
    std::fs::write(&taken, "a file").unwrap();
    nf().args(["run", "-f", &f, "--run-id", "t1", "--logs"])
        .arg(&taken)
        .args(["--", "true"])
        .run()
        .code(2)
        .stderr_has("not-a-dir");
}
