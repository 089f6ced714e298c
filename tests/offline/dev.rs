//! `up`, `down` and `port` for a checkout, as far as they go without an engine: what is
//! refused before anything is touched, and the policy key of dev stacks' ports.

const STACK: &str = "services:\n  web:\n    image: web\n    ports: ['8080:80']\n";

#[test]
fn up_needs_a_compose_file_not_stdin() {
    let d = tempfile::tempdir().unwrap();
    crate::netfence_offline()
        .current_dir(d.path())
        .arg("up")
        .stdin(STACK)
        .run()
        .code(2)
        .stderr_has("no compose file found")
        .stderr_has("give -f FILE");
}

#[test]
fn up_refuses_a_bad_port_range_before_the_engine() {
    let d = tempfile::tempdir().unwrap();
    let compose = format!("{STACK}x-netfence:\n  dev_ports: {{range: 30000-20000}}\n");
    std::fs::write(d.path().join("compose.yml"), compose).unwrap();
    crate::netfence_offline()
        .current_dir(d.path())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .arg("up")
        .run()
        .code(2)
        .stderr_has("/dev_ports/range")
        .stderr_has("not a port range");
}

#[test]
fn validate_knows_dev_ports() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("policy.yml");
    std::fs::write(&p, "dev_ports: {range: 20000-20999}\n").unwrap();
    crate::netfence_offline()
        .args(["validate", "--policy"])
        .arg(&p)
        .stdin(STACK)
        .run()
        .success();
    std::fs::write(&p, "dev_ports: {ragne: 20000-20999}\n").unwrap();
    crate::netfence_offline()
        .args(["validate", "--policy"])
        .arg(&p)
        .stdin(STACK)
        .run()
        .code(2)
        .stderr_has("/dev_ports/ragne")
        .stderr_has("did you mean `range`?");
}

#[test]
fn down_takes_a_scope_or_a_checkout_not_both() {
    crate::netfence_offline()
        .args(["down", "--run-id", "r1", "-f", "compose.yml"])
        .run()
        .code(2)
        .stderr_has("cannot be used with");
    crate::netfence_offline()
        .args(["port", "web"])
        .run()
        .code(2)
        .stderr_has("<PORT>");
}
