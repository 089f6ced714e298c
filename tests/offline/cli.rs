//! The binary as a user drives it: input, arguments, expected output and exit status.

use std::path::Path;
use std::time::{Duration, Instant};

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
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "t1", "-p", "demo"])
        .stdin(STACK)
        .run()
        .success()
        .stdout_has("name: nf-t1-demo")
        .stdout_has("- fixed-db")
        .stdout_lacks("\n    container_name:")
        .stdout_has("'127.0.0.1::5432'");
}

#[test]
fn random_scope_is_announced_on_stderr() {
    crate::netfence_offline()
        .args(["rewrite", "-p", "demo"])
        .stdin(STACK)
        .run()
        .success()
        .stderr_has("netfence: scope run:");
}

#[test]
fn compose_file_variable_is_read() {
    let d = tmp();
    write(d.path(), "compose.yml", STACK);
    crate::netfence_offline()
        .current_dir(d.path())
        .env("COMPOSE_FILE", "compose.yml")
        .args(["rewrite", "--run-id", "t2"])
        .run()
        .success()
        .stdout_has("nf-t2-default");
}

#[test]
fn netfence_run_id_variable_sets_the_scope() {
    crate::netfence_offline()
        .env("NETFENCE_RUN_ID", "fromenv")
        .args(["rewrite", "-p", "demo"])
        .stdin(STACK)
        .run()
        .success()
        .stdout_has("scope: run:fromenv");
}

#[test]
fn output_file_is_written_and_check_passes_on_it() {
    let d = tmp();
    let f = write(d.path(), "compose.yml", STACK);
    let rewrite_in_place = || {
        crate::netfence_offline()
            .args(["rewrite", "--env", "staging", "-f"])
            .arg(&f)
            .arg("-o")
            .arg(&f)
            .run()
    };
    rewrite_in_place().success().stdout_is("");
    let first = std::fs::read_to_string(&f).unwrap();
    assert!(first.contains("scope: env:staging"));
    // The pre-deploy hook runs on every deploy: the second run changes nothing.
    rewrite_in_place().success();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), first);
    crate::netfence_offline()
        .args(["rewrite", "--check", "-f"])
        .arg(&f)
        .run()
        .code(0);
    crate::netfence_offline()
        .args(["rewrite", "--check", "--env", "prod", "-f"])
        .arg(&f)
        .run()
        .code(1)
        .stderr_has("not fenced");
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
    crate::netfence_offline()
        .args(["rewrite", "--check", "--run-id", "x", "-f"])
        .arg(&f)
        .run()
        .code(1);
}

#[test]
fn json_format_is_json() {
    let v = crate::netfence_offline()
        .args(["rewrite", "--run-id", "j", "--format", "json", "-p", "p"])
        .stdin(STACK)
        .run()
        .success()
        .json();
    assert_eq!(v["name"], "nf-j-p");
}

#[test]
fn plan_prints_a_table_and_json() {
    crate::netfence_offline()
        .args(["plan", "--run-id", "t3", "-p", "demo"])
        .stdin(STACK)
        .run()
        .success()
        .stdout_has("NETWORK")
        .stdout_has("nf-t3-default")
        .stdout_has("container_name `fixed-db` removed");
    let v = crate::netfence_offline()
        .args(["plan", "--run-id", "t3", "-p", "demo", "--format", "json"])
        .stdin(STACK)
        .run()
        .success()
        .json();
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
    let a = crate::netfence_offline()
        .arg("schema")
        .run()
        .success()
        .json();
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
    crate::netfence_offline()
        .args(["validate", "--policy"])
        .arg(&p)
        .stdin("")
        .run()
        .code(2)
        .stderr_has("/prefx: unknown key `prefx`: did you mean `prefix`?")
        .stderr_has("/ports:")
        .stderr_has("/subnets/prefix_lenght");
    let good = write(d.path(), "good.yml", "subnets: {pool: 10.0.0.0/8}\n");
    crate::netfence_offline()
        .args(["validate", "--policy"])
        .arg(&good)
        .stdin(STACK)
        .run()
        .success()
        .stderr_has("valid");
}

#[test]
fn validate_checks_the_policy_against_the_compose_file() {
    let d = tmp();
    let p = write(d.path(), "policy.yml", "services:\n  dbb: {aliases: [x]}\n");
    crate::netfence_offline()
        .args(["validate", "--policy"])
        .arg(&p)
        .stdin(STACK)
        .run()
        .code(2)
        .stderr_has("/services/dbb")
        .stderr_has("did you mean `db`?");
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
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x", "-f"])
        .arg(&f)
        .run()
        .code(2)
        .stderr_matches(r"broken\.yml:\d+:\d+: ");
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
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x"])
        .stdin(s)
        .timeout(Duration::from_secs(60))
        .run()
        .code(2)
        .stderr_has("alias");
    // Generous: this bounds runaway expansion, it is not a speed test.
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[test]
fn deep_nesting_is_refused() {
    let s = format!("services: {}{}\n", "[".repeat(500), "]".repeat(500));
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x"])
        .stdin(s)
        .run()
        .code(2)
        .stderr_has("<stdin>");
}

#[test]
fn unknown_policy_key_is_refused_with_did_you_mean() {
    let d = tmp();
    let p = write(d.path(), "p.yml", "container_names: strip\n");
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .stdin(STACK)
        .run()
        .code(2)
        .stderr_has("p.yml: policy at /container_names: unknown key")
        .stderr_has("did you mean `container_name`?");
}

#[test]
fn invalid_cidr_is_refused() {
    let d = tmp();
    let p = write(d.path(), "p.yml", "subnets: {pool: 10.213.0.0/33}\n");
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .stdin(STACK)
        .run()
        .code(2)
        .stderr_has("/subnets/pool")
        .stderr_has("not a CIDR");
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
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .stdin(compose)
        .run()
        .code(2)
        .stderr_has("holds 2 subnets")
        .stderr_has("needs 3");
}

#[test]
fn unknown_service_or_network_in_policy_lists_valid_names() {
    let d = tmp();
    let p = write(
        d.path(),
        "p.yml",
        "services:\n  db: {networks: [backend]}\n",
    );
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .stdin(STACK)
        .run()
        .code(2)
        .stderr_has("/services/db/networks/0")
        .stderr_has("unknown network `backend`")
        .stderr_has("`default`");
    let p = write(d.path(), "p2.yml", "proxy: {services: [web]}\n");
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .stdin(STACK)
        .run()
        .code(2)
        .stderr_has("unknown service `web`")
        .stderr_has("`db`");
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
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .stdin(compose)
        .run()
        .code(2)
        .stderr_has("overlap");
}

#[test]
fn colliding_network_names_are_refused() {
    let d = tmp();
    let p = write(d.path(), "p.yml", "naming: {network: 'fixed'}\n");
    let compose = "services:\n  s: {image: x, networks: [a, b]}\nnetworks: {a: {}, b: {}}\n";
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x", "--policy"])
        .arg(&p)
        .stdin(compose)
        .run()
        .code(2)
        .stderr_has("would both be named `fixed`");
}

#[test]
fn undeclared_network_reference_is_refused() {
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x"])
        .stdin("services:\n  s: {image: x, networks: [ghost]}\n")
        .run()
        .code(2)
        .stderr_has("network `ghost`, which is not declared");
}

#[test]
fn bad_scope_id_and_missing_file_are_usage_errors() {
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "a b"])
        .stdin(STACK)
        .run()
        .code(2)
        .stderr_has("not a valid scope id");
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x", "-f", "/no/such/compose.yml"])
        .run()
        .code(2)
        .stderr_has("/no/such/compose.yml");
}

#[test]
fn non_mapping_compose_is_refused() {
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x"])
        .stdin("- just\n- a list\n")
        .run()
        .code(2)
        .stderr_has("mapping at the top level");
}

#[test]
fn policy_is_found_in_x_netfence_then_netfence_yml() {
    let d = tmp();
    write(d.path(), "netfence.yml", "prefix: local\n");
    crate::netfence_offline()
        .current_dir(d.path())
        .args(["rewrite", "--run-id", "x", "-p", "p"])
        .stdin(STACK)
        .run()
        .success()
        .stdout_has("name: local-x-p");
    crate::netfence_offline()
        .current_dir(d.path())
        .args(["rewrite", "--run-id", "x", "-p", "p"])
        .stdin(format!("x-netfence:\n  prefix: embedded\n{STACK}"))
        .run()
        .success()
        .stdout_has("name: embedded-x-p")
        .stdout_has("prefix: embedded");
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
    let mut child = crate::netfence_offline()
        .args(["rewrite", "--run-id", "x", "-f"])
        .arg(&f)
        .spawn();
    let mut out = child.take_stdout();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    drop(out);
    child.wait().success().stderr_is("");
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
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x", "-f"])
        .arg(&a)
        .arg("-f")
        .arg(&b)
        .run()
        .success()
        .stdout_has("- '127.0.0.1::80'\n    - '127.0.0.1::443'")
        .stdout_has("- app1");
}

#[test]
fn stdin_once_only() {
    crate::netfence_offline()
        .args(["rewrite", "--run-id", "x", "-f", "-", "-f", "-"])
        .stdin(STACK)
        .run()
        .code(2)
        .stderr_has("only once");
}

#[test]
fn completions_for_each_shell_name_every_subcommand() {
    let subcommands = [
        "rewrite",
        "plan",
        "validate",
        "schema",
        "audit",
        "graph",
        "run",
        "up",
        "down",
        "port",
        "gc",
        "ensure",
        "reconcile",
        "verify",
        "completions",
        "plugin",
    ];
    for shell in ["bash", "zsh", "fish"] {
        let out = crate::netfence_offline().args(["completions", shell]).run();
        let script = out.success().stdout();
        for sub in subcommands {
            assert!(script.contains(sub), "{shell} completions lack `{sub}`");
        }
    }
    crate::netfence_offline()
        .args(["completions", "tcsh"])
        .run()
        .code(2);
}
