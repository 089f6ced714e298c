//! `netfence audit` against a live engine (its other tests need none, and are in the
//! offline binary): the engine's subnets are in use.

use std::path::Path;

use crate::binary::Netfence;

/// NF007 against a real engine: a subnet inside the default bridge network's is in use.
#[test]
fn live_engine_subnets_are_checked() {
    let bridge = std::process::Command::new("docker")
        .args(["network", "inspect", "bridge", "-f"])
        .arg("{{(index .IPAM.Config 0).Subnet}}")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<ipnet::Ipv4Net>().ok());
    let Some(bridge) = bridge else {
        let msg = "!!! live_engine_subnets_are_checked: no Docker engine: SKIPPED !!!";
        if std::env::var("NETFENCE_E2E").as_deref() == Ok("require") {
            panic!("{msg} (NETFENCE_E2E=require)");
        }
        eprintln!("{msg}");
        return;
    };
    let inside = bridge
        .subnets(bridge.prefix_len().max(24))
        .unwrap()
        .nth(1)
        .unwrap();
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audit/NF007/bad.yml");
    let compose = std::fs::read_to_string(&bad)
        .unwrap_or_else(|e| panic!("{}: {e}", bad.display()))
        .replace("172.30.5.0/24", &inside.to_string());
    let run = |extra: &[&str]| -> serde_json::Value {
        Netfence::new()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("NO_COLOR", "1")
            .args(["audit", "--format", "json"])
            .args(extra)
            .stdin(compose.clone())
            .run()
            .json()
    };
    let nf007 = |v: &serde_json::Value| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "NF007")
            .map(|f| f["message"].as_str().unwrap().to_owned())
            .collect()
    };
    let live = nf007(&run(&[]));
    assert!(
        live.iter().any(|m| m.contains("network `bridge`")),
        "expected an overlap with the engine's bridge network ({bridge}): {live:?}"
    );
    assert!(nf007(&run(&["--no-engine"])).is_empty());
}
