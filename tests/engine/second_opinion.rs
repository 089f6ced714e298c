//! The second opinion in tenant mode: netfence's output read by
//! `docker compose config` and judged again. These need Compose, not the engine; without
//! Compose they print a loud SKIPPED line, and fail under `NETFENCE_E2E=require`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use netfence::engine::client::second_opinion::{judge_with_compose, SecondOpinion};
use netfence::{Options, Project, Scope};

use crate::binary::Netfence;

const COMPOSE: &str = "services:\n  web:\n    image: netfence-busybox:latest\n    ports: [\"8080:80\"]\n    labels: {traefik.enable: \"true\"}\n  db:\n    image: netfence-busybox:latest\n";
const POLICY: &str = "version: 1\nprefix: nf\nproxy: { network: \"{{ prefix }}-proxy\", provider: traefik, services: auto }\n";
const SKIPPED: &str = "the second opinion was skipped";

/// Is Compose v2 here? Panics under `NETFENCE_E2E=require` when not.
fn compose_ready() -> bool {
    let ok = Command::new("docker")
        .args(["compose", "version"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("NETFENCE_E2E").as_deref() == Ok("require") {
            panic!("NETFENCE_E2E=require but `docker compose` (Compose v2) does not run");
        }
        eprintln!("\n*** SKIPPED: the second opinion needs Docker Compose v2; set NETFENCE_E2E=require to fail instead ***\n");
    }
    ok
}

/// A tenant's project: the compose file and the platform's policy, in a fresh directory.
fn tenant_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yml"), COMPOSE).unwrap();
    std::fs::write(dir.path().join("policy.yml"), POLICY).unwrap();
    dir
}

fn rewrite(dir: &Path) -> Netfence {
    Netfence::new()
        .current_dir(dir)
        // Compose reads the output without an engine; what the engine holds must not
        // change the verdict.
        .env(
            "DOCKER_HOST",
            "unix:///nonexistent/netfence-second-opinion.sock",
        )
        .env_remove("NETFENCE_COMPOSE")
        .args([
            "rewrite",
            "--env",
            "prod",
            "-p",
            "shop",
            "--policy",
            "policy.yml",
            "-f",
            "compose.yml",
        ])
}

/// The project planned for `env:prod` as the library sees it, and netfence's output.
fn planned(dir: &Path) -> (Project, netfence::Plan, Options, String) {
    let path = dir.join("compose.yml");
    let opts = netfence::load::LoadOptions {
        project_dir: Some(dir.to_path_buf()),
        environ: Some(BTreeMap::new()),
    };
    let input = netfence::load::load_document(&path, COMPOSE, &opts).unwrap();
    let project = Project::new(input, Some(&dir.join("policy.yml")), dir).unwrap();
    let opts = Options {
        scope: Some(Scope::Env("prod".into())),
        project: Some("shop".into()),
        environ: BTreeMap::new(),
        ..Options::default()
    };
    let plan = project.plan(&opts).unwrap();
    let output = netfence::yaml::to_string(&project.rewrite(&plan));
    (project, plan, opts, output)
}

#[test]
fn compose_reading_a_tag_netfence_does_not_decode_is_refused_naming_service_and_key() {
    if !compose_ready() {
        return;
    }
    let dir = tenant_project();
    let (project, plan, opts, output) = planned(dir.path());
    assert_eq!(
        judge_with_compose(&output, &plan, &project, &opts).unwrap(),
        SecondOpinion::Agrees
    );
    // netfence reads `!!binary dHJ1ZQ==` as text, so not as privileged; Compose decodes
    // it to `true`.
    let hostile = output.replacen("  web:\n", "  web:\n    privileged: !!binary dHJ1ZQ==\n", 1);
    assert_ne!(hostile, output);
    let e = judge_with_compose(&hostile, &plan, &project, &opts).unwrap_err();
    assert_eq!(e.kind(), netfence::ErrorKind::Input, "{e}");
    assert!(matches!(e, netfence::Error::Tenant { .. }), "{e:?}");
    let text = e.to_string();
    for part in [
        "Compose's reading of the output: service web: `services.web.privileged`",
        "tenant.allow.privileged: true",
        "Compose reads the output differently from netfence: service web: `services.web.privileged`: netfence's reading is `false`, Compose's is `true`",
    ] {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
}

#[test]
fn compose_failing_to_read_the_output_refuses_with_its_error() {
    if !compose_ready() {
        return;
    }
    let dir = tenant_project();
    let (project, plan, opts, output) = planned(dir.path());
    let broken = output.replacen("  db:\n", "  db:\n    depends_on: [nowhere]\n", 1);
    assert_ne!(broken, output);
    let e = judge_with_compose(&broken, &plan, &project, &opts).unwrap_err();
    assert_eq!(e.kind(), netfence::ErrorKind::Input, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("Compose cannot read netfence's output"),
        "{text}"
    );
    assert!(
        text.contains("nowhere"),
        "Compose's own error is shown:\n{text}"
    );
}

#[test]
fn a_clean_tenant_file_passes_the_second_opinion() {
    if !compose_ready() {
        return;
    }
    let dir = tenant_project();
    for format in ["yaml", "json"] {
        rewrite(dir.path())
            .args(["--format", format])
            .run()
            .success()
            .stdout_has("nf-prod-shop")
            .stderr_lacks(SKIPPED);
    }
}

/// Compose writes a block-IO device entry with Go's field names (`Path`, `Weight`);
/// they are the file's own keys, not unknown ones.
#[test]
fn block_io_device_limits_pass_the_second_opinion() {
    if !compose_ready() {
        return;
    }
    let dir = tenant_project();
    std::fs::write(
        dir.path().join("compose.yml"),
        "services:\n  web:\n    image: netfence-busybox:latest\n    blkio_config:\n      weight_device: [{path: /dev/sda, weight: 400}]\n      device_read_bps: [{path: /dev/sda, rate: 12mb}]\n",
    )
    .unwrap();
    rewrite(dir.path())
        .run()
        .success()
        .stdout_has("weight_device")
        .stderr_lacks(SKIPPED);
}

#[test]
fn without_compose_the_skipped_check_is_said_unless_asked_for() {
    let dir = tenant_project();
    // A PATH with neither `docker` nor `docker-compose` on it.
    let empty = tempfile::tempdir().unwrap();
    let without = || rewrite(dir.path()).env("PATH", empty.path());
    without()
        .run()
        .success()
        .stderr_has(SKIPPED)
        .stderr_has("--no-compose-check");
    without()
        .arg("--no-compose-check")
        .run()
        .success()
        .stderr_lacks(SKIPPED)
        .stderr_lacks("Compose");
}
