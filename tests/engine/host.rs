//! Operating a host on a real engine: `ls` lists what netfence manages (runs with their
//! owners, environments, kinds it does not know, orphans) with counts that match the
//! engine, and allocation steers around the host's own routes — a VPN's, here a veth
//! pair's — saying so in `plan` and `ls`. Needs Docker + Compose v2, and root for `ip`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::binary::Netfence;
use crate::support::platform::*;
use crate::support::*;

/// How many objects of a kind carry a scope label (`docker ps -a`, `network ls`, …).
fn count(kind: &str, scope: &str) -> usize {
    let filter = format!("label=io.netfence.scope={scope}");
    let args: Vec<&str> = match kind {
        "container" => vec!["ps", "-aq", "--filter", &filter],
        "network" => vec!["network", "ls", "-q", "--filter", &filter],
        _ => vec!["volume", "ls", "-q", "--filter", &filter],
    };
    String::from_utf8_lossy(&docker(&args).stdout)
        .split_whitespace()
        .count()
}

fn running_in(scope: &str) -> usize {
    let filter = format!("label=io.netfence.scope={scope}");
    String::from_utf8_lossy(&docker(&["ps", "-q", "--filter", &filter]).stdout)
        .split_whitespace()
        .count()
}

fn scope<'a>(inv: &'a Value, name: &str) -> &'a Value {
    inv["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scope"] == name)
        .unwrap_or_else(|| panic!("ls lists no scope {name}: {inv:#}"))
}

/// A `netfence run` in progress, stopped (SIGTERM: it tears its stack down) when dropped.
struct Run(Option<crate::binary::Running>);

impl Run {
    fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Sends `sig` and waits for the run to end. After a SIGKILL nobody stops its
    /// command: that goes too.
    fn end(mut self, sig: &str) {
        let run = self.0.take().unwrap();
        let children = children_of(run.id());
        signal(run.id(), sig);
        // Its command holds the run's output open: it goes first, or the wait for
        // that output never ends.
        if sig == "KILL" {
            for c in children {
                signal(c, "KILL");
            }
        }
        let _ = run.wait();
    }
}

/// The processes whose parent is `pid` (from `/proc/*/stat`).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|c| {
            std::fs::read_to_string(format!("/proc/{c}/stat")).is_ok_and(|stat| {
                // Field 4, after the command name in parentheses.
                stat.rfind(')')
                    .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
                    == Some(pid.to_string().as_str())
            })
        })
        .collect()
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(run) = self.0.take() {
            signal(run.id(), "TERM");
            let _ = run.wait();
        }
    }
}

/// `netfence run -f FILE --run-id ID -- sleep 3600`, returned once its two containers
/// run.
fn running_run(file: &Path, id: &str) -> Run {
    let run = Netfence::new()
        .args(["run", "-f"])
        .arg(file)
        .args(["--run-id", id, "--", "sleep", "3600"])
        .spawn();
    let run = Run(Some(run));
    let scope = format!("run:{id}");
    wait_for(
        &format!("{scope} to run two containers"),
        Duration::from_secs(180),
        || (running_in(&scope) == 2).then_some(()),
    );
    run
}

fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status();
}

#[test]
fn ls_lists_runs_environments_and_orphans_with_their_owners() {
    let Some(p) = Platform::start("hostls") else {
        return;
    };
    let small = p.e2e.fixture("small").join("compose.yml");
    let stacks = p.fixture("stacks");
    let (kept, live, killed) = (p.e2e.run_id("k"), p.e2e.run_id("l"), p.e2e.run_id("x"));
    // A run whose owner is alive, and one whose owner will be SIGKILLed mid-run.
    let live_run = running_run(&small, &live);
    let killed_run = running_run(&small, &killed);
    // An environment with a deployed project, and a scope kind this version does not know.
    let env = p.env("ls");
    p.deploy(&stacks, &env, "shop", None);
    let dev = format!("dev:{}-co", p.id());
    p.e2e.guard(&dev);
    docker_ok(&[
        "network",
        "create",
        "--label",
        "io.netfence.managed=true",
        "--label",
        &format!("io.netfence.scope={dev}"),
        &format!("nf-dev-{}", p.id()),
    ]);
    // The runs without a live owner come last: a `gc --older-than 0s` of another test
    // process on a shared engine would take them (in this suite such tests run alone).
    killed_run.end("KILL");
    // A kept run: up, its `netfence run` gone.
    Netfence::new()
        .args(["run", "--keep", "-f"])
        .arg(&small)
        .args(["--run-id", &kept])
        .run()
        .success();

    let inv = Netfence::new()
        .args(["ls", "--format", "json"])
        .run()
        .success()
        .json();
    let k = scope(&inv, &format!("run:{kept}"));
    assert_eq!(k["kind"], "run");
    assert_eq!(k["owner"]["liveness"], "gone", "{k:#}");
    assert_eq!(
        k["orphaned"], true,
        "a kept run has no live owner: gc takes it"
    );
    let l = scope(&inv, &format!("run:{live}"));
    assert_eq!(l["owner"]["alive"], true, "{l:#}");
    assert_eq!(l["owner"]["pid"], live_run.id());
    assert_eq!(l["orphaned"], false);
    let x = scope(&inv, &format!("run:{killed}"));
    assert_eq!(x["owner"]["alive"], false, "{x:#}");
    assert_eq!(x["orphaned"], true);
    let orphan = inv["orphans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["scope"] == format!("run:{killed}"))
        .unwrap_or_else(|| panic!("run:{killed} is not among the orphans: {inv:#}"));
    assert!(orphan["objects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o["kind"] == "container"));
    let e = scope(&inv, &format!("env:{env}"));
    assert_eq!(e["kind"], "env");
    assert!(
        e.get("owner").is_none(),
        "environments have no owner: {e:#}"
    );
    assert!(
        e["projects"]
            .as_array()
            .unwrap()
            .contains(&Value::from(format!("nf-{env}-shop"))),
        "{e:#}"
    );
    let d = scope(&inv, &dev);
    assert_eq!(d["kind"], "dev");
    assert_eq!(d["id"], format!("{}-co", p.id()));

    // Counts match the engine, scope by scope.
    for s in [
        format!("run:{kept}"),
        format!("run:{live}"),
        format!("run:{killed}"),
        format!("env:{env}"),
        dev.clone(),
    ] {
        let entry = scope(&inv, &s);
        let n = |field: &str| entry[field].as_array().unwrap().len();
        assert_eq!(n("containers"), count("container", &s), "{s} containers");
        assert_eq!(n("networks"), count("network", &s), "{s} networks");
        assert_eq!(n("volumes"), count("volume", &s), "{s} volumes");
    }
    for c in l["containers"].as_array().unwrap() {
        assert_eq!(c["running"], true, "{c:#}");
    }
    assert_eq!(l["containers"].as_array().unwrap().len(), 2);
    let cap = &inv["capacity"];
    assert!(cap["managed_networks"].as_u64().unwrap() >= 5, "{cap:#}");
    assert_eq!(
        cap["daemon_pools"]["source"], "built_in",
        "Docker 20.10 does not report its pools"
    );

    // The table says the same for people.
    let table = Netfence::new().arg("ls").run().success().stdout();
    for s in [&kept, &live, &killed, &env] {
        assert!(table.contains(s.as_str()), "{s} in\n{table}");
    }
    assert!(table.contains(&dev), "{table}");
    assert!(table.contains("orphans ("), "{table}");
    assert!(table.contains("(orphan)"), "{table}");

    live_run.end("TERM");
}

/// A veth pair standing in for a VPN interface, removed when dropped (deleting one end
/// deletes both).
struct Veth(String);

impl Veth {
    fn add(name: &str, address: &str) -> Veth {
        let peer = format!("{name}p");
        let ip = |args: &[&str]| {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let _ = std::process::Command::new("ip")
            .args(["link", "del", name])
            .output();
        ip(&["link", "add", name, "type", "veth", "peer", "name", &peer]);
        let veth = Veth(name.to_owned());
        ip(&["addr", "add", address, "dev", name]);
        ip(&["link", "set", name, "up"]);
        ip(&["link", "set", &peer, "up"]);
        veth
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.0])
            .output();
    }
}

/// A container Compose made for a run's project without the service's labels (a
/// lifecycle hook's, labelled as Compose labels it) is the run's: `ls` counts it, `down`
/// removes it, and a container of another project is left alone.
#[test]
fn compose_leftovers_of_a_scopes_project_count_as_the_scopes() {
    let Some(e2e) = E2e::start("hook") else {
        return;
    };
    let small = e2e.fixture("small").join("compose.yml");
    let id = e2e.id.clone();
    Netfence::new()
        .args(["run", "--keep", "-p", "hk", "-f"])
        .arg(&small)
        .args(["--run-id", &id])
        .run()
        .success();
    let project = format!("nf-{id}-hk");
    let leftover = |project: &str, name: &str| {
        docker_ok(&[
            "create",
            "--name",
            name,
            "--label",
            &format!("com.docker.compose.project={project}"),
            "--label",
            "com.docker.compose.hook=pre_start",
            "--label",
            "com.docker.compose.service=api",
            IMAGE,
            "true",
        ]);
    };
    let hook = format!("{project}-api-pre_start-1");
    let stranger = format!("nf-{id}-other-api-pre_start-1");
    // They carry no netfence label, so the scope guard cannot find them if the test fails.
    let _gone = Removed(vec![hook.clone(), stranger.clone()]);
    leftover(&project, &hook);
    // Another project's, which must survive (removed by the guard above).
    leftover(&format!("nf-{id}-other"), &stranger);
    let inv = Netfence::new()
        .args(["ls", "--format", "json"])
        .run()
        .success()
        .json();
    let entry = scope(&inv, &format!("run:{id}"));
    let names: Vec<&str> = entry["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.contains(&hook.as_str()),
        "ls counts the hook container: {entry:#}"
    );
    assert!(!names.contains(&stranger.as_str()), "{entry:#}");
    let out = Netfence::new().args(["down", "--run-id", &id]).run();
    out.success();
    let exists = |name: &str| docker(&["inspect", name]).status.success();
    assert!(
        !exists(&hook),
        "down removed the hook container: {}",
        out.stderr()
    );
    assert!(
        exists(&stranger),
        "another project's container is not the run's"
    );
}

/// Removes the named containers when dropped.
struct Removed(Vec<String>);

impl Drop for Removed {
    fn drop(&mut self) {
        let mut args = vec!["rm", "-f"];
        args.extend(self.0.iter().map(String::as_str));
        docker(&args);
    }
}

#[test]
fn allocation_avoids_the_hosts_routes_and_names_them_when_they_fill_the_pool() {
    let Some(e2e) = E2e::start("hroute") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("compose.yml"),
        "services:\n  app: {image: netfence-busybox:latest, command: [sleep, '1000']}\n",
    )
    .unwrap();
    // Two /24s: a range no test allocates from.
    std::fs::write(
        d.join("policy.yml"),
        "subnets: {pool: 10.219.4.0/23, prefix_length: 24}\n",
    )
    .unwrap();
    let plan = |format: &str| {
        Netfence::new()
            .current_dir(d)
            .args(["plan", "--format", format, "--run-id", &e2e.id])
            .args(["-f", "compose.yml", "--policy", "policy.yml"])
            .run()
    };
    let subnet = |plan: &Value| plan["networks"][0]["subnet"].as_str().unwrap().to_owned();
    let first = subnet(&plan("json").success().json());
    let other = if first == "10.219.4.0/24" {
        "10.219.5.0/24"
    } else {
        "10.219.4.0/24"
    };
    let host = |cidr: &str| cidr.replace(".0/24", ".1/24");
    let tag = std::process::id() % 100_000;
    let (a, b) = (format!("nfv{tag}a"), format!("nfv{tag}b"));

    // A "VPN" on the subnet the plan took: the plan moves to the other one and says why.
    let _vpn = Veth::add(&a, &host(&first));
    let again = plan("json").success().json();
    assert_eq!(subnet(&again), other, "{again:#}");
    let avoided = again["avoided"].as_array().unwrap();
    assert!(
        avoided.iter().any(|x| x["subnet"] == first.as_str()
            && x["kind"] == "route"
            && x["interface"] == a.as_str()),
        "{again:#}"
    );
    plan("table")
        .success()
        .stdout_has(&format!("{first}: route on {a}"));
    let inv = Netfence::new()
        .current_dir(d)
        .args(["ls", "--format", "json", "--policy", "policy.yml"])
        .run()
        .success()
        .json();
    let pool = &inv["capacity"]["pool"];
    assert_eq!(pool["pool"], "10.219.4.0/23");
    assert_eq!(
        (pool["subnets"].as_u64(), pool["in_use"].as_u64()),
        (Some(2), Some(1)),
        "{pool:#}"
    );
    assert!(
        pool["avoided"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["reason"] == format!("route on {a}")),
        "{pool:#}"
    );
    assert!(
        inv["capacity"]["host_routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["subnet"] == first.as_str() && r["interface"] == a.as_str()),
        "{inv:#}"
    );

    // Both subnets routed on the host: the pool is full, and the error names the routes.
    let _lan = Veth::add(&b, &host(other));
    plan("json")
        .code(2)
        .stderr_has("holds 2 subnets of /24, 2 of them in use")
        .stderr_has(&format!("{first}: route on {a}"))
        .stderr_has(&format!("{other}: route on {b}"));
}
