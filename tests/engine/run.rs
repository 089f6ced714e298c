//! `netfence run` on a real engine: isolation of a 7-service stack, published ports, exit
//! status, `down`. Needs Docker + Compose v2 (see support).

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::binary::Netfence;
use crate::support::*;

fn compose_file(dir: &Path) -> String {
    dir.join("compose.yml").to_string_lossy().into_owned()
}

/// Brings a stack up with `--keep`, records what CMD saw in `env.txt`; returns the
/// exported variables.
fn keep_up(dir: &Path, run_id: &str) -> BTreeMap<String, String> {
    keep_up_with(dir, run_id, &[])
}

/// [`keep_up`] with more arguments for `run`.
fn keep_up_with(dir: &Path, run_id: &str, more: &[&str]) -> BTreeMap<String, String> {
    let env_file = dir.join(format!("env-{run_id}.txt"));
    let out = Netfence::new()
        .args([
            "run",
            "-f",
            &compose_file(dir),
            "--run-id",
            run_id,
            "--keep",
        ])
        .args(more)
        .arg("--")
        .args([
            "sh",
            "-c",
            "env | grep ^NETFENCE_ > \"$0\"",
            env_file.to_str().unwrap(),
        ])
        .run();
    // --keep says how to remove it.
    out.success()
        .stderr_has(&format!("netfence down --run-id {run_id}"));
    // An engine before 28 opens every bridge for a moment whenever a network is created
    // (scripts/isolation-window.sh measures it): run says so there, and only there.
    let lapse = "removes and re-inserts the firewall's jump";
    if engine_major() < 28 {
        out.stderr_has(lapse);
    } else {
        out.stderr_lacks(lapse);
    }
    std::fs::read_to_string(&env_file)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn down(run_id: &str) {
    Netfence::new()
        .args(["down", "--run-id", run_id])
        .run()
        .success();
    assert!(leftovers_of(&format!("run:{run_id}")).is_empty());
}

fn run_info(env: &BTreeMap<String, String>) -> serde_json::Value {
    let path = &env["NETFENCE_RUN_INFO"];
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The IP of a service's first container on the network with logical key `key`.
fn ip_of(info: &serde_json::Value, service: &str, key: &str) -> String {
    let net = info["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["key"] == key)
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    info["services"][service][0]["networks"][&net]["ip"]
        .as_str()
        .unwrap_or_else(|| panic!("{service} has no IP on {net}: {info:#}"))
        .to_owned()
}

fn container(project: &str, service: &str) -> String {
    format!("{project}-{service}-1")
}

/// One reachability check: what, how, and whether it must answer.
type Check<'a> = (
    &'a str,
    Box<dyn Fn() -> Option<String> + Send + Sync + 'a>,
    bool,
);

/// `nc` from inside a container: Some(answer) when the port answered.
fn probe(from: &str, host: &str, port: u16) -> Option<String> {
    let (ok, out) = exec(from, &format!("nc -w2 {host} {port} </dev/null"));
    ok.then(|| out.trim().to_owned())
}

#[test]
fn unrewritten_stack_cannot_come_up_twice_on_one_host() {
    let Some(e2e) = E2e::start("twice") else {
        return;
    };
    let dir = e2e.fixture("stack7");
    let file = compose_file(&dir);
    let first = format!("{}-a", e2e.id);
    let second = format!("{}-b", e2e.id);
    struct Down<'a>(&'a str, &'a [String]);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            for p in self.1 {
                docker(&["compose", "-f", self.0, "-p", p, "down", "-v", "-t", "1"]);
            }
        }
    }
    let projects = [first.clone(), second.clone()];
    let _cleanup = Down(&file, &projects);
    let up = |p: &str| docker(&["compose", "-f", &file, "-p", p, "up", "-d"]);
    let a = up(&first);
    assert!(a.status.success(), "first copy comes up: {}", text(&a));
    let b = up(&second);
    assert!(!b.status.success(), "a second copy must fail: {}", text(&b));
    let err = String::from_utf8_lossy(&b.stderr);
    assert!(
        err.contains("already in use") || err.contains("already allocated"),
        "fails on the fixed names/ports: {err}"
    );
}

#[test]
fn two_runs_at_once_are_isolated_from_each_other() {
    let Some(e2e) = E2e::start("iso") else { return };
    let dir = e2e.fixture("stack7");
    let (a_id, b_id) = (e2e.run_id("a"), e2e.run_id("b"));
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| keep_up(&dir, &a_id));
        let b = s.spawn(|| keep_up(&dir, &b_id));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (ia, ib) = (run_info(&a), run_info(&b));
    let pa = a["NETFENCE_PROJECT"].clone();
    let pb = b["NETFENCE_PROJECT"].clone();
    assert_ne!(pa, pb);

    let edge = container(&pa, "edge");
    let worker = container(&pa, "worker");
    let db = container(&pa, "db");
    let checks: Vec<Check> = vec![
        // Same run: service names and old container_names, DNS and TCP.
        (
            "edge→web by service name",
            Box::new(|| probe(&edge, "web", 8080)),
            true,
        ),
        (
            "edge→shop-api by old container_name",
            Box::new(|| probe(&edge, "shop-api", 8000)),
            true,
        ),
        (
            "worker→db by service name",
            Box::new(|| probe(&worker, "db", 5432)),
            true,
        ),
        (
            "worker→shop-db by old container_name",
            Box::new(|| probe(&worker, "shop-db", 5432)),
            true,
        ),
        (
            "worker→shop-cache",
            Box::new(|| probe(&worker, "shop-cache", 6379)),
            true,
        ),
        (
            "edge→own web by IP",
            Box::new(|| probe(&edge, &ip_of(&ia, "web", "front"), 8080)),
            true,
        ),
        // Other run: names do not resolve, addresses do not answer.
        (
            "edge→other run's web container name",
            Box::new(|| probe(&edge, &container(&pb, "web"), 8080)),
            false,
        ),
        (
            "edge→other run's web IP",
            Box::new(|| probe(&edge, &ip_of(&ib, "web", "front"), 8080)),
            false,
        ),
        (
            "worker→other run's db IP",
            Box::new(|| probe(&worker, &ip_of(&ib, "db", "back"), 5432)),
            false,
        ),
        (
            "edge→other run's api IP",
            Box::new(|| probe(&edge, &ip_of(&ib, "api", "front"), 8000)),
            false,
        ),
        // Internal network: db reaches nothing off its network.
        (
            "db (internal only)→web by name",
            Box::new(|| probe(&db, "web", 8080)),
            false,
        ),
        (
            "db (internal only)→web's IP on front",
            Box::new(|| probe(&db, &ip_of(&ia, "web", "front"), 8080)),
            false,
        ),
        (
            "db (internal only)→other run's db IP",
            Box::new(|| probe(&db, &ip_of(&ib, "db", "back"), 5432)),
            false,
        ),
    ];
    let results: Vec<(String, Option<String>, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = checks
            .iter()
            .map(|(what, f, want)| {
                s.spawn(move || {
                    // What must answer gets three tries (a loaded engine's DNS can miss
                    // one); what must not answer is asked once, with nc's 2 s timeout.
                    let tries = if *want { 3 } else { 1 };
                    let got = (0..tries).find_map(|_| f());
                    (what.to_string(), got, *want)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wrong: Vec<String> = results
        .iter()
        .filter(|(_, got, want)| got.is_some() != *want)
        .map(|(what, got, want)| {
            format!(
                "{what}: expected {}, got {got:?}",
                if *want { "an answer" } else { "no answer" }
            )
        })
        .collect();
    assert!(wrong.is_empty(), "isolation broken:\n{}", wrong.join("\n"));
    let answer = results
        .iter()
        .find(|r| r.0.starts_with("edge→shop-api"))
        .unwrap();
    assert_eq!(answer.1.as_deref(), Some("hello-api"));
    // The internal network really is internal on the engine.
    let back = ia["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["key"] == "back")
        .unwrap();
    assert_eq!(back["internal"], true);
    assert_eq!(
        docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Internal}}",
            back["name"].as_str().unwrap()
        ]),
        "true"
    );
    down(&a_id);
    down(&b_id);
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
    assert!(
        !Path::new(&a["NETFENCE_RUN_INFO"]).exists(),
        "down removes the run-info file"
    );
}

#[test]
fn published_ports_are_ephemeral_exported_and_reachable() {
    let Some(e2e) = E2e::start("ports") else {
        return;
    };
    let dir = e2e.fixture("stack7");
    let id = e2e.id.clone();
    let env = keep_up(&dir, &id);
    let info = run_info(&env);
    assert_eq!(env["NETFENCE_RUN_ID"], id);
    for (var, service, port, fixed, answer) in [
        ("NETFENCE_WEB_8080", "web", 8080, 18080, "hello-web"),
        ("NETFENCE_API_8000", "api", 8000, 18000, "hello-api"),
    ] {
        let addr = env
            .get(var)
            .unwrap_or_else(|| panic!("{var} exported: {env:?}"));
        let (host, p) = addr.rsplit_once(':').unwrap();
        let p: u16 = p.parse().unwrap();
        assert_ne!(p, fixed, "{var}: the fixed host port is gone");
        let reported = &info["services"][service][0]["ports"];
        assert!(
            reported
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["container_port"] == port
                    && r["host_port"] == p
                    && r["address"] == addr.as_str()),
            "{var}={addr} is in the run info: {reported}"
        );
        let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("{addr} reachable from the host: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut got = String::new();
        let _ = s.read_to_string(&mut got);
        assert_eq!(got.trim(), answer);
        if service == "api" {
            assert_eq!(host, "127.0.0.1", "a loopback binding stays on loopback");
        }
    }
    assert_eq!(info["run_id"], id.as_str());
    assert_eq!(info["services"].as_object().unwrap().len(), 7);
    down(&id);
}

/// What a host port answers from a container on Docker's default bridge, which reaches
/// the host at the bridge's gateway address as a machine on the LAN reaches it at its own:
/// another network namespace, not the host's loopback. The container carries the run's
/// scope labels, so the test's guard removes it if it is ever left.
fn answer_from_the_bridge(scope: &str, port: &str) -> String {
    let gateway = docker_ok(&[
        "network",
        "inspect",
        "bridge",
        "--format",
        "{{(index .IPAM.Config 0).Gateway}}",
    ]);
    let label = format!("io.netfence.scope={scope}");
    let out = docker(&[
        "run",
        "--rm",
        "--label",
        "io.netfence.managed=true",
        "--label",
        &label,
        IMAGE,
        "sh",
        "-c",
        &format!("nc -w2 {} {port} </dev/null", gateway.trim()),
    ]);
    text(&out)
}

#[test]
fn published_ports_are_closed_to_the_lan_unless_the_policy_says_ephemeral() {
    let Some(e2e) = E2e::start("lan") else {
        return;
    };
    let dir = e2e.fixture("stack7");
    let everywhere = dir.join("everywhere.yml");
    std::fs::write(&everywhere, "ports: ephemeral\n").unwrap();
    let everywhere = everywhere.to_string_lossy().into_owned();
    for (suffix, policy, open) in [
        ("lo", None, false),
        ("all", Some(everywhere.as_str()), true),
    ] {
        let id = e2e.run_id(suffix);
        let more: Vec<&str> = policy.iter().flat_map(|p| ["--policy", p]).collect();
        let env = keep_up_with(&dir, &id, &more);
        let addr = &env["NETFENCE_WEB_8080"];
        let (host, port) = addr.rsplit_once(':').unwrap();
        assert_eq!(
            host, "127.0.0.1",
            "{addr}: the address to use from this host"
        );
        // The test's own command reaches it.
        let mut s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("{addr} from the host: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut got = String::new();
        let _ = s.read_to_string(&mut got);
        assert_eq!(got.trim(), "hello-web");
        let bound = docker_ok(&["port", &format!("nf-{id}-shop-web-1"), "8080/tcp"]);
        let from_outside = answer_from_the_bridge(&format!("run:{id}"), port);
        if open {
            assert!(
                from_outside.contains("hello-web"),
                "ports: ephemeral publishes on every address ({bound}): {from_outside:?}"
            );
        } else {
            assert!(
                bound.lines().all(|l| l.starts_with("127.0.0.1:")),
                "bound to loopback only: {bound}"
            );
            assert!(
                !from_outside.contains("hello-web"),
                "another namespace reached {port}: {from_outside:?}"
            );
        }
        down(&id);
    }
}

#[test]
fn cmd_exit_status_comes_back_unchanged() {
    let Some(e2e) = E2e::start("status") else {
        return;
    };
    let dir = e2e.fixture("small");
    for (cmd, want) in [("exit 0", 0), ("exit 7", 7), ("kill -TERM $$", 143)] {
        let id = e2e.run_id(&want.to_string());
        Netfence::new()
            .args([
                "run",
                "-f",
                &compose_file(&dir),
                "--run-id",
                &id,
                "--",
                "sh",
                "-c",
                cmd,
            ])
            .run()
            .code(want);
        assert!(
            leftovers_of(&format!("run:{id}")).is_empty(),
            "{cmd}: nothing left"
        );
    }
    let hidden: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".netfence-"))
        .collect();
    assert!(hidden.is_empty(), "the fenced compose file is removed");
}

#[test]
fn a_service_that_cannot_start_shows_its_log_and_leaves_nothing() {
    let Some(e2e) = E2e::start("broken") else {
        return;
    };
    let dir = e2e.fixture("broken");
    Netfence::new()
        .args([
            "run",
            "-f",
            &compose_file(&dir),
            "--run-id",
            &e2e.id,
            "--timeout",
            "60s",
            "--",
            "true",
        ])
        .run()
        .code(3)
        .stderr_has("`broken` exited with status 3")
        // Its log is shown.
        .stderr_has("fatal: DATABASE_URL is not set");
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
    // `--keep` keeps a stack that came up, never one that did not.
    Netfence::new()
        .args([
            "run",
            "--keep",
            "-f",
            &compose_file(&dir),
            "--run-id",
            &e2e.id,
        ])
        .args(["--timeout", "60s"])
        .run()
        .code(3)
        .stderr_lacks("left up (--keep)");
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}

#[test]
fn an_unreachable_engine_is_one_line_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yml");
    std::fs::write(&file, "services:\n  a:\n    image: x\n").unwrap();
    for args in [
        vec!["run", "-f", file.to_str().unwrap(), "--", "true"],
        vec!["down", "--run-id", "nothing"],
        vec!["gc"],
    ] {
        let out = Netfence::new()
            .args(&args)
            .env("DOCKER_HOST", "unix:///nonexistent/netfence-test.sock")
            .run();
        out.code(3);
        let err = out.stderr();
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| !l.starts_with("netfence: run id"))
            .collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line: {err}");
        assert!(
            lines[0].contains("unix:///nonexistent/netfence-test.sock")
                && lines[0].contains("DOCKER_HOST"),
            "{err}"
        );
    }
}

#[test]
fn bad_run_arguments_are_exit_2() {
    // No CMD.
    Netfence::new().args(["run", "--run-id", "x"]).run().code(2);
    Netfence::new()
        .args(["run", "--timeout", "soon", "--", "true"])
        .run()
        .code(2);
    Netfence::new()
        .args(["gc", "--older-than", "yesterday"])
        .run()
        .code(2);
}

#[test]
fn down_env_removes_by_labels_and_keeps_volumes_unless_asked() {
    let Some(e2e) = E2e::start("downenv") else {
        return;
    };
    let env = e2e.id.clone();
    let scope = format!("env:{env}");
    e2e.guard(&scope);
    let labels = [
        "--label".to_owned(),
        "io.netfence.managed=true".to_owned(),
        "--label".to_owned(),
        format!("io.netfence.scope={scope}"),
    ];
    let with = |args: &[&str]| {
        let mut a: Vec<&str> = args[..args.len() - 1].to_vec();
        a.extend(labels.iter().map(String::as_str));
        a.push(args[args.len() - 1]);
        docker_ok(&a)
    };
    let net = format!("nf-{env}-net");
    let vol = format!("nf-{env}-data");
    with(&["network", "create", &net]);
    with(&["volume", "create", &vol]);
    let name = format!("nf-{env}-app");
    let mut run = vec!["run", "-d", "--init", "--name", &name, "--network", &net];
    run.extend(labels.iter().map(String::as_str));
    run.extend([IMAGE, "sleep", "600"]);
    docker_ok(&run);
    assert_eq!(leftovers_of(&scope).len(), 3);

    Netfence::new()
        .args(["down", "--env", &env])
        .run()
        .success();
    assert_eq!(
        leftovers_of(&scope),
        vec![format!("volume {vol}")],
        "volumes kept"
    );
    Netfence::new()
        .args(["down", "--env", &env, "--volumes"])
        .run()
        .success();
    assert!(leftovers_of(&scope).is_empty());
    // Nothing left is fine.
    Netfence::new()
        .args(["down", "--env", &env])
        .run()
        .success()
        .stderr_has("nothing of");
}

/// Each managed network's name → subnet, as `plan --for-run` prints them.
fn planned_subnets(dir: &Path, run_id: &str) -> BTreeMap<String, String> {
    let out = Netfence::new()
        .args(["plan", "--for-run", "--format", "json", "--run-id", run_id])
        .args(["-f", &compose_file(dir)])
        .run();
    out.success();
    out.json()["networks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["role"] == "managed")
        .map(|n| {
            let subnet = n["subnet"].as_str();
            let name = n["name"].as_str().unwrap().to_owned();
            let subnet = subnet.unwrap_or_else(|| panic!("{name} has a subnet: {n}"));
            (name, subnet.to_owned())
        })
        .collect()
}

#[test]
fn plan_for_run_prints_the_subnets_run_creates() {
    let Some(e2e) = E2e::start("planrun") else {
        return;
    };
    let dir = e2e.fixture("stack7");
    let planned = planned_subnets(&dir, &e2e.id);
    assert_eq!(planned.len(), 2, "{planned:?}");
    let env = keep_up(&dir, &e2e.id);
    for (name, subnet) in &planned {
        let live = docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
            name,
        ]);
        assert_eq!(&live, subnet, "network {name}");
    }
    let info = run_info(&env);
    for n in info["networks"].as_array().unwrap() {
        let name = n["name"].as_str().unwrap();
        assert_eq!(n["subnet"].as_str(), planned.get(name).map(String::as_str));
    }
    // The stack's own networks are not in its way: the plan stays what runs.
    assert_eq!(planned_subnets(&dir, &e2e.id), planned);
    down(&e2e.id);
}

#[test]
fn run_overlay_brings_copies_up_from_the_users_file_and_never_writes_it() {
    let Some(e2e) = E2e::start("overlay") else {
        return;
    };
    let dir = e2e.fixture("stack7");
    let file = compose_file(&dir);
    let before = std::fs::read(&file).unwrap();
    for i in 0..2 {
        e2e.guard(&format!("run:{}-{i}", e2e.id));
    }
    // Two copies at once from one file: fixed names and ports would collide unfenced.
    let script = r#"env | grep ^NETFENCE_ > "$0/env-$NETFENCE_INDEX.txt"
        docker exec "$NETFENCE_PROJECT-edge-1" nc -w2 shop-api 8000 > "$0/answer-$NETFENCE_INDEX.txt"
        docker inspect -f '{{index .Config.Labels "com.docker.compose.project.config_files"}}' \
            "$NETFENCE_PROJECT-web-1" > "$0/files-$NETFENCE_INDEX.txt""#;
    Netfence::new()
        .args(["run", "--overlay", "-f", &file, "--run-id", &e2e.id])
        .args(["--parallel", "2", "--", "sh", "-c", script])
        .arg(&dir)
        .run()
        .success();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    for i in 0..2 {
        assert_eq!(read(&format!("answer-{i}.txt")).trim(), "hello-api");
        // Compose read the user's file first, then the overlay netfence wrote.
        let files = read(&format!("files-{i}.txt"));
        let files: Vec<&str> = files.trim().split(',').collect();
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!(
            Path::new(files[0]),
            Path::new(&file).canonicalize().unwrap()
        );
        assert!(files[1].ends_with("/fence.yml"), "{files:?}");
        let env = read(&format!("env-{i}.txt"));
        assert!(
            env.lines().any(|l| l.starts_with("NETFENCE_COMPOSE_FILES=")
                && l.contains(&file)
                && l.ends_with("/fence.yml")),
            "{env}"
        );
    }
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the user's file is never written"
    );
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}
