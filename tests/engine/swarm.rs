//! `rewrite --target swarm` on a single-node swarm: the output deploys with
//! `docker stack deploy`, services on one overlay reach each other, the proxy label sits
//! under `deploy.labels`; the stack is removed afterwards. Needs Docker (see support).
//!
//! The swarm is initialised only when the engine is not in one, and left only then. This
//! kernel has no IPVS, so the fixture's services use DNS round-robin, not a virtual IP.

use std::time::Duration;

use crate::support::platform::*;
use crate::support::*;

/// A swarm for the test's lifetime; serialised across test processes by a lock
/// directory, so that one test never leaves a swarm another is still using.
struct Swarm {
    created: bool,
    lock: std::path::PathBuf,
}

impl Swarm {
    fn join() -> Swarm {
        let lock = std::env::temp_dir().join("netfence-swarm-test.lockdir");
        wait_for("the swarm test lock", Duration::from_secs(300), || {
            // A lock left by a killed test goes stale after five minutes.
            let stale = std::fs::metadata(&lock)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(300));
            if stale {
                let _ = std::fs::remove_dir(&lock);
            }
            std::fs::create_dir(&lock).ok()
        });
        let state = docker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        let mut swarm = Swarm {
            created: false,
            lock,
        };
        if String::from_utf8_lossy(&state.stdout).trim() != "active" {
            // From here on the guard exists: a failed init still releases the lock.
            docker_ok(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
            swarm.created = true;
        }
        swarm
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if self.created {
            docker(&["swarm", "leave", "--force"]);
            // Swarm's bridge outlives the swarm; it is ours when the swarm was.
            for _ in 0..20 {
                if docker(&["network", "rm", "docker_gwbridge"])
                    .status
                    .success()
                    || networks_named("docker_gwbridge").is_empty()
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }
        let _ = std::fs::remove_dir(&self.lock);
    }
}

#[test]
fn swarm_output_deploys_as_a_stack() {
    // Swarm mode is the whole engine's: no other test runs meanwhile (see `alone`).
    let _alone = alone();
    let Some(p) = Platform::start("pfswarm") else {
        return;
    };
    // Dropped explicitly in order at the end (stack and networks, then the swarm). On a
    // panic the swarm goes first, which takes a swarm we created with all its services.
    let swarm = Swarm::join();
    let dir = p.fixture("swarm");
    let env = p.env("sw");
    let proxy = format!("nfp-{}-swarm-proxy", p.id());
    let env_net = format!("nf-env-{env}");
    p.guard_network(&proxy);
    p.guard_network(&env_net);
    let stack = format!("nfsw{}", p.id().replace('-', ""));

    let ensured = p.netfence_ok(
        &dir,
        &[
            "ensure",
            "--env",
            &env,
            "--target",
            "swarm",
            "--policy",
            "policy.yml",
        ],
    );
    assert_eq!(ensured.matches("created").count(), 2, "{ensured}");
    for n in [&proxy, &env_net] {
        let net = inspect(n);
        assert_eq!(net["Driver"], "overlay", "{n}");
        assert_eq!(net["Attachable"], true, "{n}");
        assert_eq!(net["Scope"], "swarm", "{n}");
    }

    p.netfence_ok(
        &dir,
        &[
            "rewrite",
            "-f",
            "compose.yml",
            "--policy",
            "policy.yml",
            "--env",
            &env,
            "-p",
            "shop",
            "--target",
            "swarm",
            "-o",
            "stack.yml",
        ],
    );
    let text_out = std::fs::read_to_string(dir.join("stack.yml")).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text_out).unwrap();
    let web = &doc["services"]["web"];
    assert_eq!(
        web["deploy"]["labels"]["traefik.swarm.network"].as_str(),
        Some(proxy.as_str()),
        "the proxy label sits under deploy.labels:\n{text_out}"
    );
    assert!(
        web["labels"].get("traefik.swarm.network").is_none()
            && web["labels"].get("traefik.docker.network").is_none(),
        "and not beside it on the container:\n{text_out}"
    );

    p.guard_stack(&stack);
    let out = docker(&[
        "stack",
        "deploy",
        "--resolve-image",
        "never",
        "-c",
        dir.join("stack.yml").to_str().unwrap(),
        &stack,
    ]);
    assert!(out.status.success(), "docker stack deploy: {}", text(&out));

    let task = |service: &str| {
        let filter = format!("label=com.docker.swarm.service.name={stack}_{service}");
        wait_for(
            &format!("a running task of {stack}_{service}"),
            Duration::from_secs(60),
            || {
                let ids = docker_ok(&["ps", "-q", "--filter", &filter]);
                ids.lines().next().map(str::to_owned)
            },
        )
    };
    let api = task("api");
    task("web");
    // Same overlay: by service name, by task name, and by the environment alias.
    for host in ["web", "tasks.web", "web.shop"] {
        wait_reaches(&api, host);
    }

    let spec: serde_json::Value =
        serde_json::from_str(&docker_ok(&["service", "inspect", &format!("{stack}_web")])).unwrap();
    let spec = &spec[0]["Spec"];
    assert_eq!(spec["Labels"]["traefik.swarm.network"], proxy.as_str());
    assert!(spec["TaskTemplate"]["ContainerSpec"]["Labels"]["traefik.swarm.network"].is_null());
    // The stack's own overlay carries netfence's labels.
    let front = inspect(&format!("nf-{env}-shop-front"));
    assert_eq!(front["Driver"], "overlay");
    assert_eq!(front["Labels"]["io.netfence.scope"], format!("env:{env}"));

    // Removed afterwards: the stack, then its networks.
    assert!(docker(&["stack", "rm", &stack]).status.success());
    wait_for(
        "the stack's tasks and networks to go",
        Duration::from_secs(60),
        || {
            let filter = format!("label=com.docker.stack.namespace={stack}");
            let left = docker_ok(&["ps", "-aq", "--filter", &filter])
                + &docker_ok(&["network", "ls", "-q", "--filter", &filter]);
            left.is_empty().then_some(())
        },
    );
    drop(p);
    drop(swarm);
}
