//! `rewrite` with a subnet pool on a live engine: subnets already in use there are
//! avoided, and the stack's own networks do not count against it.

use crate::binary::Netfence;
use crate::support::{docker, docker_ok, E2e};

const POLICY: &str = "subnets: { pool: 10.214.8.0/23, prefix_length: 24 }\n";
const COMPOSE: &str = "services:\n  app:\n    image: netfence-busybox:latest\n    networks: [back]\nnetworks:\n  back: {}\n";

fn subnet_of(out: &str) -> String {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(out).unwrap();
    v["networks"]["back"]["ipam"]["config"][0]["subnet"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn rewrite_avoids_subnets_in_use_on_the_engine() {
    let Some(e2e) = E2e::start("rwocc") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yml");
    std::fs::write(&policy, POLICY).unwrap();
    let compose = dir.path().join("compose.yml");
    std::fs::write(&compose, COMPOSE).unwrap();
    let rewrite = |engine: bool| {
        let mut netfence = Netfence::new();
        if !engine {
            netfence = netfence.env("DOCKER_HOST", "unix:///nonexistent/docker.sock");
        }
        netfence
            .args(["rewrite", "--run-id", &e2e.id, "--policy"])
            .arg(&policy)
            .arg("-f")
            .arg(&compose)
            .run()
            .success()
            .stdout()
    };
    // Without an engine the choice is the pool's deterministic one ...
    let chosen = subnet_of(&rewrite(false));
    // ... which a foreign network now takes (labelled with this test's scope for clean-up).
    let scope = format!("run:{}", e2e.id);
    let name = format!("nf-{}-squatter", e2e.id);
    docker_ok(&[
        "network",
        "create",
        "--subnet",
        &chosen,
        "--label",
        "io.netfence.managed=true",
        "--label",
        &format!("io.netfence.scope={scope}"),
        &name,
    ]);
    let with_engine = rewrite(true);
    let other = subnet_of(&with_engine);
    assert_ne!(
        other, chosen,
        "the subnet in use on the engine must be avoided"
    );
    assert!(
        ["10.214.8.0/24", "10.214.9.0/24"].contains(&other.as_str()),
        "{other}"
    );

    // Once the stack's own network exists with that subnet, rewriting again is stable.
    docker(&["network", "rm", &name]);
    let own = format!("nf-{}-back", e2e.id);
    docker_ok(&[
        "network",
        "create",
        "--subnet",
        &chosen,
        "--label",
        "io.netfence.managed=true",
        "--label",
        &format!("io.netfence.scope={scope}"),
        &own,
    ]);
    assert_eq!(
        subnet_of(&rewrite(true)),
        chosen,
        "its own network is not in its way"
    );
    docker(&["network", "rm", &own]);
}
