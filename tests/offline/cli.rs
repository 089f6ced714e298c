//! The binary as a user drives it: input, arguments, expected output and exit status.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;

fn netfence() -> Command {
    let mut c = Command::cargo_bin("netfence").unwrap();
    c.env_remove("NETFENCE_RUN_ID")
        .env_remove("COMPOSE_FILE")
        .env_remove("COMPOSE_PROJECT_NAME");
    c
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const STACK: &str = "services:\n  db:\n    image: postgres\n    container_name: fixed-db\n    ports: ['5433:5432']\n";

#[test]
fn rewrite_reads_stdin_and_prints_fenced_yaml() {
    netfence()
        .args(["rewrite", "--run-id", "t1", "-p", "demo"])
        .write_stdin(STACK)
        .assert()
        .success()
        .stdout(predicate::str::contains("name: nf-t1-demo"))
        .stdout(predicate::str::contains("- fixed-db"))
        .stdout(predicate::str::contains("\n    container_name:").not())
        .stdout(predicate::str::contains("'5432'"));
}

#[test]
fn random_scope_is_announced_on_stderr() {
    netfence()
        .args(["rewrite", "-p", "demo"])
        .write_stdin(STACK)
        .assert()
        .success()
        .stderr(predicate::str::contains("netfence: scope run:"));
}

#[test]
fn compose_file_variable_is_read() {
    let d = tmp();
    write(d.path(), "compose.yml", STACK);
    netfence()
        .current_dir(d.path())
        .env("COMPOSE_FILE", "compose.yml")
        .args(["rewrite", "--run-id", "t2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("nf-t2-default"));
}

#[test]
fn netfence_run_id_variable_sets_the_scope() {
    netfence()
        .env("NETFENCE_RUN_ID", "fromenv")
        .args(["rewrite", "-p", "demo"])
        .write_stdin(STACK)
        .assert()
        .success()
        .stdout(predicate::str::contains("scope: run:fromenv"));
}

#[test]
fn output_file_is_written_and_check_passes_on_it() {
    let d = tmp();
    let f = write(d.path(), "compose.yml", STACK);
    netfence()
        .args(["rewrite", "--env", "staging", "-f"])
        .arg(&f)
        .arg("-o")
        .arg(&f)
        .assert()
        .success()
        .stdout("");
    let first = std::fs::read_to_string(&f).unwrap();
    assert!(first.contains("scope: env:staging"));
    // The pre-deploy hook runs on every deploy: the second run changes nothing.
    netfence()
        .args(["rewrite", "--env", "staging", "-f"])
        .arg(&f)
        .arg("-o")
        .arg(&f)
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), first);
    netfence()
        .args(["rewrite", "--check", "-f"])
        .arg(&f)
        .assert()
        .code(0);
    netfence()
        .args(["rewrite", "--check", "--env", "prod", "-f"])
        .arg(&f)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not fenced"));
    // No temp files are left beside the output.
    let names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn check_fails_on_an_unfenced_file() {
    let d = tmp();
    let f = write(d.path(), "compose.yml", STACK);
    netfence()
        .args(["rewrite", "--check", "--run-id", "x", "-f"])
        .arg(&f)
        .assert()
        .code(1);
}

#[test]
fn json_format_is_json() {
    let out = netfence()
        .args(["rewrite", "--run-id", "j", "--format", "json", "-p", "p"])
        .write_stdin(STACK)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["name"], "nf-j-p");
}

#[test]
fn plan_prints_a_table_and_json() {
    netfence()
        .args(["plan", "--run-id", "t3", "-p", "demo"])
        .write_stdin(STACK)
        .assert()
        .success()
        .stdout(predicate::str::contains("NETWORK"))
        .stdout(predicate::str::contains("nf-t3-default"))
        .stdout(predicate::str::contains(
            "container_name `fixed-db` removed",
        ));
    let out = netfence()
        .args(["plan", "--run-id", "t3", "-p", "demo", "--format", "json"])
        .write_stdin(STACK)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["project_name"], "nf-t3-demo");
    assert_eq!(v["networks"][0]["name"], "nf-t3-default");
    assert_eq!(v["services"][0]["attachments"][0]["aliases"][0], "fixed-db");
}

#[test]
fn schema_is_the_shipped_file() {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/netfence-policy.schema.json"),
    )
    .unwrap();
    let out = netfence()
        .arg("schema")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let a: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let b: serde_json::Value = serde_json::from_str(&shipped).unwrap();
    assert_eq!(a, b);
}

#[test]
fn validate_lists_every_problem_with_its_pointer() {
    let d = tmp();
    let p = write(
        d.path(),
        "policy.yml",
        "prefx: x\nports: sometimes\nsubnets: {pool: 10.0.0.0/8, prefix_lenght: 24}\n",
    );
    netfence()
        .args(["validate", "--policy"])
        .arg(&p)
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "/prefx: unknown key `prefx`: did you mean `prefix`?",
        ))
        .stderr(predicate::str::contains("/ports:"))
        .stderr(predicate::str::contains("/subnets/prefix_lenght"));
    let good = write(d.path(), "good.yml", "subnets: {pool: 10.0.0.0/8}\n");
    netfence()
        .args(["validate", "--policy"])
        .arg(&good)
        .write_stdin(STACK)
        .assert()
        .success()
        .stderr(predicate::str::contains("valid"));
}

#[test]
fn validate_checks_the_policy_against_the_compose_file() {
    let d = tmp();
    let p = write(d.path(), "policy.yml", "services:\n  dbb: {aliases: [x]}\n");
    netfence()
        .args(["validate", "--policy"])
        .arg(&p)
        .write_stdin(STACK)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/services/dbb"))
        .stderr(predicate::str::contains("did you mean `db`?"));
}

// ---- bad input: message and exit code 2 ---------------------------------------------------

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let d = tmp();
    let f = write(
        d.path(),
        "broken.yml",
        "services:\n  db:\n    image: [postgres\n    ports: x\n",
    );
    netfence()
        .args(["rewrite", "--run-id", "x", "-f"])
        .arg(&f)
        .assert()
        .code(2)
        .stderr(predicate::str::is_match(r"broken\.yml:\d+:\d+: ").unwrap());
}

#[test]
fn alias_bomb_is_refused_quickly() {
    let mut s = String::from("x-a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        s.push_str(&format!(
            "x-a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    s.push_str("services:\n  app:\n    image: x\n    command: *a9\n");
    let start = Instant::now();
    netfence()
        .args(["rewrite", "--run-id", "x"])
        .write_stdin(s)
        .timeout(Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("alias"));
    // Generous: this bounds runaway expansion, it is not a speed test.
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn deep_nesting_is_refused() {
    let s = format!("services: {}{}\n", "[".repeat(500), "]".repeat(500));
    netfence()
        .args(["rewrite", "--run-id", "x"])
        .write_stdin(s)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("<stdin>"));
}

#[test]
fn unknown_policy_key_is_refused_with_did_you_mean() {
    let d = tmp();
    let p = write(d.path(), "p.yml", "container_names: strip\n");
    netfence()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .write_stdin(STACK)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "p.yml: policy at /container_names: unknown key",
        ))
        .stderr(predicate::str::contains("did you mean `container_name`?"));
}

#[test]
fn invalid_cidr_is_refused() {
    let d = tmp();
    let p = write(d.path(), "p.yml", "subnets: {pool: 10.213.0.0/33}\n");
    netfence()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .write_stdin(STACK)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/subnets/pool"))
        .stderr(predicate::str::contains("not a CIDR"));
}

#[test]
fn pool_too_small_says_needed_and_available() {
    let d = tmp();
    let p = write(
        d.path(),
        "p.yml",
        "subnets: {pool: 10.213.0.0/24, prefix_length: 25}\n",
    );
    let compose =
        "services:\n  a: {image: x, networks: [n1, n2, n3]}\nnetworks: {n1: {}, n2: {}, n3: {}}\n";
    netfence()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .write_stdin(compose)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("holds 2 subnets"))
        .stderr(predicate::str::contains("needs 3"));
}

#[test]
fn unknown_service_or_network_in_policy_lists_valid_names() {
    let d = tmp();
    let p = write(
        d.path(),
        "p.yml",
        "services:\n  db: {networks: [backend]}\n",
    );
    netfence()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .write_stdin(STACK)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/services/db/networks/0"))
        .stderr(predicate::str::contains("unknown network `backend`"))
        .stderr(predicate::str::contains("`default`"));
    let p = write(d.path(), "p2.yml", "proxy: {services: [web]}\n");
    netfence()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .write_stdin(STACK)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown service `web`"))
        .stderr(predicate::str::contains("`db`"));
}

#[test]
fn overlapping_explicit_subnets_are_refused() {
    let d = tmp();
    let p = write(
        d.path(),
        "p.yml",
        "networks:\n  a: {subnet: 10.1.0.0/16}\n  b: {subnet: 10.1.2.0/24}\n",
    );
    let compose = "services:\n  s: {image: x, networks: [a, b]}\nnetworks: {a: {}, b: {}}\n";
    netfence()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .write_stdin(compose)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("overlap"));
}

#[test]
fn colliding_network_names_are_refused() {
    let d = tmp();
    let p = write(d.path(), "p.yml", "naming: {network: 'fixed'}\n");
    let compose = "services:\n  s: {image: x, networks: [a, b]}\nnetworks: {a: {}, b: {}}\n";
    netfence()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .write_stdin(compose)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("would both be named `fixed`"));
}

#[test]
fn undeclared_network_reference_is_refused() {
    netfence()
        .args(["rewrite", "--run-id", "x"])
        .write_stdin("services:\n  s: {image: x, networks: [ghost]}\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "network `ghost`, which is not declared",
        ));
}

#[test]
fn bad_scope_id_and_missing_file_are_usage_errors() {
    netfence()
        .args(["rewrite", "--run-id", "a b"])
        .write_stdin(STACK)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a valid scope id"));
    netfence()
        .args(["rewrite", "--run-id", "x", "-f", "/no/such/compose.yml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/no/such/compose.yml"));
}

#[test]
fn non_mapping_compose_is_refused() {
    netfence()
        .args(["rewrite", "--run-id", "x"])
        .write_stdin("- just\n- a list\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("mapping at the top level"));
}

#[test]
fn policy_is_found_in_x_netfence_then_netfence_yml() {
    let d = tmp();
    write(d.path(), "netfence.yml", "prefix: local\n");
    netfence()
        .current_dir(d.path())
        .args(["rewrite", "--run-id", "x", "-p", "p"])
        .write_stdin(STACK)
        .assert()
        .success()
        .stdout(predicate::str::contains("name: local-x-p"));
    netfence()
        .current_dir(d.path())
        .args(["rewrite", "--run-id", "x", "-p", "p"])
        .write_stdin(format!("x-netfence:\n  prefix: embedded\n{STACK}"))
        .assert()
        .success()
        .stdout(predicate::str::contains("name: embedded-x-p"))
        .stdout(predicate::str::contains("prefix: embedded"));
}

#[test]
fn broken_pipe_ends_quietly() {
    // A large output read by a consumer that closes early (like `| head -1`).
    let mut s = String::from("services:\n");
    for i in 0..3000 {
        s.push_str(&format!(
            "  s{i}:\n    image: x\n    container_name: c{i}\n"
        ));
    }
    let d = tmp();
    let f = write(d.path(), "big.yml", &s);
    let bin = assert_cmd::cargo::cargo_bin("netfence");
    let mut child = std::process::Command::new(bin)
        .args(["rewrite", "--run-id", "x", "-f"])
        .arg(&f)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    drop(out);
    let result = child.wait_with_output().unwrap();
    assert!(result.status.success(), "status {:?}", result.status);
    assert!(
        result.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

#[test]
fn two_files_merge_like_compose() {
    let d = tmp();
    let a = write(
        d.path(),
        "a.yml",
        "services:\n  app: {image: x, ports: ['80:80']}\n",
    );
    let b = write(
        d.path(),
        "b.yml",
        "services:\n  app: {ports: ['443:443'], container_name: app1}\n",
    );
    netfence()
        .args(["rewrite", "--run-id", "x", "-f"])
        .arg(&a)
        .arg("-f")
        .arg(&b)
        .assert()
        .success()
        .stdout(predicate::str::contains("- '80'\n    - '443'"))
        .stdout(predicate::str::contains("- app1"));
}

#[test]
fn stdin_once_only() {
    let mut c = netfence();
    c.args(["rewrite", "--run-id", "x", "-f", "-", "-f", "-"])
        .write_stdin(STACK);
    c.assert()
        .code(2)
        .stderr(predicate::str::contains("only once"));
    let _ = std::io::stdout().flush();
}
