//! `netfence ensure` on a real engine: idempotent, one network per name when several run
//! at once, the per-host limit, drift reported and `--recreate` reconnecting containers.
//! Needs Docker + Compose v2 (see support).

use crate::binary::{Netfence, Running};
use crate::support::platform::*;
use crate::support::*;

#[test]
fn concurrent_ensures_leave_one_network_per_name() {
    let Some(p) = Platform::start("pfconc") else {
        return;
    };
    let dir = p.fixture("stacks");
    let env = p.env("cc");
    let names = [
        format!("nf-env-{env}"),
        format!("nfp-{}-traefik", p.id()),
        format!("nfp-{}-infra", p.id()),
    ];
    for n in &names {
        p.guard_network(n);
    }
    // Eight at once, released together: the engine alone would make duplicates.
    let children: Vec<_> = (0..8)
        .map(|_| {
            Netfence::new()
                .current_dir(&dir)
                .args(["ensure", "--env", &env, "--policy", "policy-traefik.yml"])
                .spawn()
        })
        .collect();
    let outputs: Vec<_> = children.into_iter().map(Running::wait).collect();
    let mut report = String::new();
    for o in &outputs {
        report.push_str(&o.success().stdout());
    }
    for n in &names {
        assert_eq!(networks_named(n).len(), 1, "exactly one network named {n}");
        let created = report
            .lines()
            .filter(|l| l.starts_with("created") && l.ends_with(&format!(" {n}")))
            .count();
        // Usually exactly one; two only when the engine's creation times and listing
        // order disagree (each saw its own as the survivor for a moment).
        assert!(
            (1..=2).contains(&created),
            "one ensure says it created {n}:\n{report}"
        );
    }
    // Idempotent: the next run finds everything in place.
    let again = p.netfence_ok(
        &dir,
        &["ensure", "--env", &env, "--policy", "policy-traefik.yml"],
    );
    assert_eq!(again.lines().count(), 3, "{again}");
    assert!(again.lines().all(|l| l.starts_with("exists")), "{again}");
    // The networks carry the plan's ownership and role labels.
    let env_net = inspect(&names[0]);
    assert_eq!(env_net["Labels"]["io.netfence.role"], "environment");
    assert_eq!(env_net["Labels"]["io.netfence.scope"], format!("env:{env}"));
    assert_eq!(inspect(&names[1])["Labels"]["io.netfence.role"], "proxy");
}

#[test]
fn past_the_network_limit_ensure_refuses_and_creates_nothing() {
    let Some(p) = Platform::start("pflimit") else {
        return;
    };
    let dir = p.fixture("limits");
    // One netfence-managed network on the host at least...
    let first = p.env("la");
    p.netfence_ok(&dir, &["ensure", "--env", &first]);
    // ...so a limit of one is already reached.
    let second = p.env("lb");
    // A clear error.
    p.netfence_in(
        &dir,
        &["ensure", "--env", &second, "--policy", "policy.yml"],
    )
    .code(3)
    .stderr_has("limits.max_networks is 1")
    .stderr_has("nothing was created");
    assert!(
        networks_named(&format!("nf-env-{second}")).is_empty(),
        "nothing created"
    );
    assert!(leftovers_of(&format!("env:{second}")).is_empty());
}

#[test]
fn a_drifted_network_is_reported_and_recreate_reconnects_its_containers() {
    let Some(p) = Platform::start("pfdrift") else {
        return;
    };
    let dir = p.fixture("limits");
    let env = p.env("dr");
    let name = format!("nf-env-{env}");
    // What an older netfence or a hand might have left: netfence's labels, but internal.
    docker_ok(&[
        "network",
        "create",
        "--internal",
        "--label",
        "io.netfence.managed=true",
        "--label",
        "io.netfence.network=netfence-env",
        "--label",
        "io.netfence.role=environment",
        "--label",
        &format!("io.netfence.scope=env:{env}"),
        &name,
    ]);
    let c = format!("nfp-{}-drift", p.id());
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &c,
        "--label",
        &format!("io.netfence.scope=env:{env}"),
        "--network",
        &name,
        "--network-alias",
        "api.shop",
        "--network-alias",
        "legacy-api",
        IMAGE,
        "sleep",
        "600",
    ]);

    // Drift is reported.
    p.netfence_in(&dir, &["ensure", "--env", &env])
        .code(1)
        .stdout_has("differs")
        .stdout_has("internal: live true, plan false");
    assert_eq!(inspect(&name)["Internal"], true, "left as it was");

    let stdout = p.netfence_ok(&dir, &["ensure", "--env", &env, "--recreate"]);
    assert!(
        stdout.contains("recreated") && stdout.contains(&c),
        "{stdout}"
    );
    let net = inspect(&name);
    assert_eq!(net["Internal"], false);
    assert!(net["Labels"]["io.netfence.created"].is_string());
    assert_eq!(networks_named(&name).len(), 1);
    let att = attachments(&c);
    let aliases = &att[&name].1;
    for a in ["api.shop", "legacy-api"] {
        assert!(aliases.iter().any(|x| x == a), "{a} kept: {aliases:?}");
    }
    // And now it matches.
    let again = p.netfence_ok(&dir, &["ensure", "--env", &env]);
    assert!(again.starts_with("exists"), "{again}");
}
