//! Tenant mode against hostile tenant files, one directory each under
//! `fixtures/tenant/`: in env scope with the platform's policy every escape is refused
//! (exit 2, naming the service, the key, why, and the `tenant.allow` key that grants
//! it); with the grant in `grant.yml` the file is accepted; in run scope the same file is
//! the user's own and rewrites as before. The refusals are one snapshot.

use std::path::{Path, PathBuf};

use crate::binary::Netfence;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("fixtures/tenant"))
        .expect("fixtures/tenant")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 14, "tenant cases: {names:?}");
    names
}

/// `rewrite` as a platform's hook runs it. No engine is asked: a network's labels would
/// make the refusal's wording depend on what else the engine holds.
fn rewrite(case: &str, scope: &[&str], policy: &Path) -> Netfence {
    crate::netfence_offline()
        .current_dir(root())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env_remove("COMPOSE_PROJECT_NAME")
        .args(["rewrite", "-p", "shop", "--policy"])
        .arg(policy)
        .args(scope)
        .arg("-f")
        .arg(format!("fixtures/tenant/{case}/compose.yml"))
}

const PLATFORM: &str = "fixtures/tenant/platform.yml";

#[test]
fn every_escape_is_refused_in_env_scope_and_granted_or_trusted_otherwise() {
    let mut refusals = String::new();
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let out = rewrite(&case, &["--env", "prod"], Path::new(PLATFORM)).run();
        out.code(2).stderr_has("refused in tenant mode");
        refusals.push_str(&format!("## {case}\n{}\n", out.stderr()));

        let grant = root().join(format!("fixtures/tenant/{case}/grant.yml"));
        if grant.exists() {
            let policy = dir.path().join(format!("{case}.yml"));
            let text = std::fs::read_to_string(root().join(PLATFORM)).unwrap()
                + &std::fs::read_to_string(&grant).unwrap();
            std::fs::write(&policy, text).unwrap();
            rewrite(&case, &["--env", "prod"], &policy).run().success();
        }
        rewrite(&case, &["--run-id", "t1"], Path::new(PLATFORM))
            .run()
            .success();
    }
    insta::assert_snapshot!("tenant_refusals", refusals);
}

#[test]
fn a_tenants_embedded_policy_is_ignored_beside_the_platforms_and_cannot_grant() {
    let case = "embedded-policy-grants-itself";
    rewrite(case, &["--env", "prod"], Path::new(PLATFORM))
        .run()
        .code(2)
        .stderr_has("(x-netfence) is ignored: the compose file is a tenant's")
        .stderr_has("tenant.allow.host_network: true");
    // With no platform policy at all the embedded one is read, and may not set `tenant`.
    crate::netfence_offline()
        .current_dir(root())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["rewrite", "-p", "shop", "--env", "prod", "-f"])
        .arg(format!("fixtures/tenant/{case}/compose.yml"))
        .run()
        .code(2)
        .stderr_has("policy at /tenant")
        .stderr_has("cannot set `tenant`");
}

#[test]
fn an_embedded_policy_never_reads_the_process_environment() {
    let compose = "services:\n  web: {image: busybox}\nx-netfence:\n  naming: {network: \"{{ prefix }}-{{ environ.PLATFORM_SECRET }}-{{ network }}\"}\n";
    crate::netfence_offline()
        .env("PLATFORM_SECRET", "hunter2")
        .args(["rewrite", "--run-id", "t1"])
        .stdin(compose)
        .run()
        .code(2)
        .stderr_has("/naming/network")
        .stderr_lacks("hunter2");
}

#[test]
fn the_platforms_project_name_beats_a_record() {
    let compose = "services:\n  db: {image: postgres}\nx-netfence:\n  fenced: {scope: 'run:t1', project: victim, policy: 'sha256:0', version: 0.1.0}\n";
    crate::netfence_offline()
        .env("COMPOSE_PROJECT_NAME", "shop")
        .args(["rewrite", "--run-id", "t1"])
        .stdin(compose)
        .run()
        .success()
        .stdout_has("name: nf-t1-shop")
        .stdout_lacks("victim");
}

#[test]
fn a_private_service_that_declares_the_proxy_network_does_not_join_it() {
    let compose = "services:\n  web: {image: nginx, labels: [traefik.enable=true], networks: [edge]}\n  db: {image: postgres, networks: [edge]}\nnetworks:\n  edge: {external: true, name: nf-proxy}\n";
    let out = crate::netfence_offline()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .current_dir(root())
        .args([
            "plan", "--format", "json", "-p", "shop", "--env", "prod", "--policy", PLATFORM,
        ])
        .stdin(compose)
        .run();
    let plan = out.success().json();
    let nets = |svc: &str| -> Vec<String> {
        plan["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == svc)
            .unwrap()["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["network"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        nets("web").contains(&"edge".to_owned()),
        "{:?}",
        nets("web")
    );
    assert!(!nets("db").contains(&"edge".to_owned()), "{:?}", nets("db"));
}

#[test]
fn an_include_that_is_a_link_out_of_the_project_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let outside = root.path().join("other-tenant.yml");
    std::fs::write(&outside, "services:\n  secret-db: {image: postgres}\n").unwrap();
    let project = root.path().join("shop");
    std::fs::create_dir(&project).unwrap();
    std::os::unix::fs::symlink(&outside, project.join("db.yml")).unwrap();
    std::fs::write(
        project.join("compose.yml"),
        "include: [./db.yml]\nservices:\n  web: {image: busybox}\n",
    )
    .unwrap();
    let rewrite = |scope: &[&str]| {
        crate::netfence_offline()
            .current_dir(&project)
            .args(["rewrite", "-p", "shop"])
            .args(scope)
            .run()
    };
    rewrite(&["--env", "prod"]).code(2).stderr_has(
        "`include[0]`: reads `../other-tenant.yml` (from the project's directory, links followed)",
    );
    rewrite(&["--run-id", "t1"])
        .success()
        .stdout_has("secret-db");
}

/// The tenant's output is closed: what Compose runs does not depend on the deploy's
/// environment. Harmless files that read variables with defaults inside the project are
/// accepted; a platform variable the policy does not name never reaches the file.
#[test]
fn a_tenants_output_is_closed_and_harmless_defaults_are_accepted() {
    let root = tempfile::tempdir().unwrap();
    let project = root.path().join("shop");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("app.env"), "A=1\n").unwrap();
    std::fs::write(project.join(".env"), "GREETING=hello\n").unwrap();
    std::fs::write(
        project.join("compose.yml"),
        "services:\n  web:\n    image: busybox\n    volumes: ['${DATA_DIR:-./data}:/data']\n    env_file: ${ENV_FILE:-./app.env}\n    security_opt: [apparmor=docker-default]\n    user: !!str 0022\n    environment:\n      TOKEN: ${PLATFORM_TOKEN}\n      REGION: ${REGION}\n      GREETING: $GREETING\n      PRICE: \"5$$\"\n",
    )
    .unwrap();
    let policy = root.path().join("platform.yml");
    std::fs::write(
        &policy,
        std::fs::read_to_string(self::root().join(PLATFORM)).unwrap()
            + "tenant: {environment: [REG*]}\n",
    )
    .unwrap();
    let out = crate::netfence_offline()
        .current_dir(&project)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("PLATFORM_TOKEN", "s3cret")
        .env("REGION", "eu-1")
        .args(["rewrite", "--env", "prod", "-p", "shop", "--policy"])
        .arg(&policy)
        .run();
    let dir = std::path::absolute(&project).unwrap();
    out.success()
        .stdout_lacks("s3cret")
        .stdout_lacks("${")
        .stdout_lacks("!!")
        .stdout_has("TOKEN: ''")
        .stdout_has("REGION: eu-1")
        .stdout_has("GREETING: hello")
        .stdout_has("PRICE: 5$$")
        .stdout_has("user: '0022'")
        .stdout_has(&format!("{}/data:/data", dir.display()))
        .stdout_lacks("env_file")
        .stdout_has("A: '1'");
}

#[test]
fn tenant_keys_prints_the_table_with_each_grant() {
    let out = crate::netfence_offline().args(["tenant", "keys"]).run();
    out.success();
    let gpus = out
        .stdout()
        .lines()
        .find(|l| l.split_whitespace().next() == Some("services.*.gpus"))
        .map(str::to_owned);
    assert_eq!(
        gpus.as_deref()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["services.*.gpus", "grant", "tenant.allow.gpus"]),
        "{}",
        out.stdout()
    );
    let json = crate::netfence_offline()
        .args(["tenant", "keys", "--format", "json"])
        .run()
        .json();
    let rows = json.as_array().expect("a list of keys");
    let row = |key: &str| rows.iter().find(|r| r["key"] == key).cloned();
    assert_eq!(
        row("services.*.network_mode").map(|r| r["rules"].clone()),
        Some(serde_json::json!(["services::namespaces"]))
    );
    assert_eq!(
        row("services.*.healthcheck").map(|r| r["class"].clone()),
        Some(serde_json::json!("free"))
    );
}
