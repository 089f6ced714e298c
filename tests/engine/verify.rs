//! `netfence verify` on a real engine: a clean run verifies; a foreign network on one of
//! its containers, or a foreign container on one of its networks, is named and exits 1;
//! `--probe-image` finds same-network pairs reachable and another run's not, and takes a
//! refused connection for the answer it is; a missing netfilter rule (a bridge's, or on
//! Docker 28 a container's raw-table drop) is named. Needs Docker + Compose v2 (see
//! support).

use std::path::{Path, PathBuf};

use crate::binary::{Netfence, Outcome};
use crate::support::*;

/// A private copy of `fixtures/verify/three` (web ─ front ─ api ─ back(internal) ─ db):
/// the directory (removed when dropped) and the compose file in it.
fn three() -> (tempfile::TempDir, PathBuf) {
    fixture("three")
}

/// A private copy of `fixtures/verify/<name>`: the directory (removed when dropped) and
/// the compose file in it.
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/verify")
        .join(name)
        .join("compose.yml");
    let dir = tempfile::Builder::new()
        .prefix("nf-verify-")
        .tempdir()
        .unwrap();
    let dst = dir.path().join(name);
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::copy(src, dst.join("compose.yml")).unwrap();
    (dir, dst.join("compose.yml"))
}

/// The two tests take turns: each brings up stacks and starts probe containers, and the
/// engine (two cores, other suites running) answers more steadily to one at a time.
static ENGINE_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    ENGINE_TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn keep_up(file: &Path, run_id: &str) {
    Netfence::new()
        .args(["run", "-f", file.to_str().unwrap(), "--run-id", run_id])
        .args(["--keep", "--", "true"])
        .run()
        .success();
}

fn verify(run_id: &str, extra: &[&str]) -> Outcome {
    Netfence::new()
        .args(["verify", "--run-id", run_id])
        .args(extra)
        .run()
}

fn down(run_id: &str) {
    Netfence::new()
        .args(["down", "--run-id", run_id])
        .run()
        .success();
}

#[test]
fn a_clean_run_verifies_and_foreign_attachments_are_named() {
    let _turn = turn();
    let Some(e2e) = E2e::start("vfy") else { return };
    let (_dir, file) = three();
    let f = file.to_str().unwrap();
    let id = e2e.id.clone();
    keep_up(&file, &id);
    let project = format!("nf-{id}-three");
    let front = format!("nf-{id}-front");

    // Clean: from the plan (-f) and from the labels alone.
    verify(&id, &["-f", f])
        .success()
        .stdout_has("as planned")
        .stdout_has("exists, internal")
        // The old container_name is kept as an alias.
        .stdout_has("api, three-api");
    let report = verify(&id, &["--format", "json"]).success().json();
    assert_eq!(report["ok"], true);
    let pair = |r: &serde_json::Value, subject: &str| {
        r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["check"] == "pair" && row["subject"] == subject)
            .unwrap_or_else(|| panic!("pair {subject}: {r:#}"))
            .clone()
    };
    assert_eq!(pair(&report, "db ↔ web")["observed"], "isolated");
    assert_eq!(
        pair(&report, "api ↔ web")["observed"],
        format!("via {front}")
    );

    // A network the stack does not know, connected to one of its containers.
    let foreign_scope = e2e.run_id("foreign");
    let foreign_net = format!("nf-{foreign_scope}-net");
    docker_ok(&[
        "network",
        "create",
        "--label",
        &format!("io.netfence.scope=run:{foreign_scope}"),
        &foreign_net,
    ]);
    let web = format!("{project}-web-1");
    docker_ok(&["network", "connect", &foreign_net, &web]);
    for args in [vec!["-f", f], vec![]] {
        let err = verify(&id, &args).code(1).stderr();
        assert!(
            err.lines()
                .any(|l| l.contains("attachments web") && l.contains(&foreign_net)),
            "{args:?}: names the foreign attachment: {err}"
        );
    }
    docker_ok(&["network", "disconnect", &foreign_net, &web]);
    // Clean again.
    verify(&id, &["-f", f]).success();

    // A container that is not of the run, on one of its networks, answering to `web`.
    let stranger = format!("nf-{foreign_scope}-stranger");
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &stranger,
        "--label",
        &format!("io.netfence.scope=run:{foreign_scope}"),
        "--network",
        &front,
        "--network-alias",
        "web",
        IMAGE,
        "sleep",
        "300",
    ]);
    let err = verify(&id, &["-f", f]).code(1).stderr();
    assert!(
        err.lines()
            .any(|l| l.contains(&format!("members {front}")) && l.contains(&stranger)),
        "names the foreign member: {err}"
    );
    assert!(
        err.lines()
            .any(|l| l.contains(&format!("`web` on {front}")) && l.contains("2 holders")),
        "names the ambiguous name: {err}"
    );
    docker(&["rm", "-f", &stranger]);

    // Bad input (no scope) and a scope with nothing on the engine.
    Netfence::new().arg("verify").run().code(2);
    verify(&format!("{id}-nothing"), &[]).code(1);

    down(&id);
}

#[test]
fn probes_reach_same_network_pairs_and_not_another_run() {
    let _turn = turn();
    let Some(e2e) = E2e::start("vfyp") else {
        return;
    };
    let (_dir, file) = three();
    let (a, b) = (e2e.run_id("a"), e2e.run_id("b"));
    std::thread::scope(|s| {
        s.spawn(|| keep_up(&file, &a));
        s.spawn(|| keep_up(&file, &b));
    });
    let args = [
        "-f",
        file.to_str().unwrap(),
        "--probe-image",
        IMAGE,
        "--format",
        "json",
    ];
    let out = verify(&a, &args);
    let report = out.json();
    out.success();
    let rows: Vec<&serde_json::Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["check"].as_str().unwrap().starts_with("probe"))
        .collect();
    // Exit 0 already says every row saw what it expected; these pin that the telling rows
    // are there at all.
    let has = |check: &str, prefix: &str, observed: &str| {
        rows.iter().any(|r| {
            r["check"] == check
                && r["subject"].as_str().unwrap().starts_with(prefix)
                && r["observed"].as_str().unwrap().starts_with(observed)
                && r["ok"] == true
        })
    };
    let (fa, ba) = (format!("nf-{a}-front"), format!("nf-{a}-back"));
    // Same network: DNS (service name and old container_name) and TCP.
    for (check, prefix, observed) in [
        ("probe tcp", "web → api tcp", "answers"),
        ("probe tcp", "api → db tcp", "answers"),
        ("probe dns", "web → name `api`", "resolves to 10."),
        ("probe dns", "web → name `three-api`", "resolves to 10."),
        ("probe dns", "api → name `database`", "resolves to 10."),
        // Not sharing a network inside the run: db is internal-only, so the lookups that
        // must fail are really made there.
        ("probe tcp", "web → db tcp", "no answer"),
        ("probe dns", "db → name `web`", "does not resolve"),
    ] {
        assert!(
            has(check, prefix, observed),
            "{check} {prefix} {observed}: {rows:#?}"
        );
    }
    assert!(
        rows.iter().any(|r| r["subject"]
            .as_str()
            .unwrap()
            .ends_with(&format!("on {fa}"))
            && r["observed"] == "answers"),
        "{rows:#?}"
    );
    assert!(
        rows.iter().any(|r| r["subject"]
            .as_str()
            .unwrap()
            .ends_with(&format!("on {ba}"))
            && r["observed"] == "answers"),
        "{rows:#?}"
    );
    // The other run: addresses do not answer, its container names do not resolve.
    let other = format!("container nf-{b}-three-");
    let cross: Vec<&serde_json::Value> = rows
        .iter()
        .copied()
        .filter(|r| r["check"] == "probe tcp" && r["subject"].as_str().unwrap().contains(&other))
        .collect();
    assert!(
        cross.len() >= 6,
        "every container probes the other run: {rows:#?}"
    );
    assert!(
        cross.iter().all(|r| r["observed"] == "no answer"),
        "{cross:#?}"
    );
    assert!(
        has(
            "probe dns",
            &format!("db → name `nf-{b}-three-"),
            "does not resolve"
        ),
        "{rows:#?}"
    );
    for id in [&a, &b] {
        down(id);
    }
    assert!(
        e2e.leftovers().is_empty(),
        "probes leave nothing: {:?}",
        e2e.leftovers()
    );
}

#[test]
fn a_refused_connection_is_an_answer_and_a_finished_job_is_no_difference() {
    let _turn = turn();
    let Some(e2e) = E2e::start("vfyr") else {
        return;
    };
    let (_dir, file) = fixture("refused");
    let id = e2e.id.clone();
    keep_up(&file, &id);
    let f = file.to_str().unwrap();
    let out = verify(&id, &["-f", f, "--probe-image", IMAGE, "--format", "json"]);
    let report = out.json();
    assert_eq!(report["ok"], true, "{report:#}");
    out.success();
    let rows = report["rows"].as_array().unwrap();
    let row = |check: &str, subject: &str| {
        rows.iter()
            .find(|r| r["check"] == check && r["subject"].as_str().unwrap().starts_with(subject))
            .unwrap_or_else(|| panic!("{check} {subject}: {report:#}"))
    };
    // Nothing listens on db's 5432 nor on web's 7000: refused, so reachable, as planned.
    for subject in ["web → db tcp", "db → web tcp"] {
        let r = row("probe tcp", subject);
        assert_eq!(r["expected"], "answers", "{r:#}");
        assert!(
            r["observed"]
                .as_str()
                .unwrap()
                .starts_with("answers (connection refused"),
            "{r:#}"
        );
    }
    // The job finished (exit 0): its attachments and pairs are those it is configured with.
    let net = format!("nf-{id}-default");
    let job = row("attachments", "job (");
    assert!(
        job["subject"]
            .as_str()
            .unwrap()
            .contains("finished: exit 0"),
        "{job:#}"
    );
    assert_eq!(job["observed"], net.as_str());
    assert_eq!(row("pair", "job ↔ web")["observed"], format!("via {net}"));
    down(&id);
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}

/// Puts a netfilter rule back when dropped: a failing test never leaves a bridge open.
struct Restore(Vec<String>);

impl Drop for Restore {
    fn drop(&mut self) {
        let args: Vec<&str> = self.0.iter().map(String::as_str).collect();
        let _ = std::process::Command::new("iptables").args(&args).status();
    }
}

/// `verify` reads the host's netfilter rules for each of the scope's bridges: with one of
/// a network's isolation rules gone (as a firewall reload removes them), it names the
/// network and the rule; with the rule back, it is clean again.
#[test]
fn a_missing_isolation_rule_is_named_by_verify() {
    // Alone: while the rule is gone, other bridges reach this run's network, and another
    // test's probes of other scopes would see it.
    let _alone = alone();
    let Some(e2e) = E2e::start("vrules") else {
        return;
    };
    let (_dir, file) = three();
    let id = e2e.id.clone();
    keep_up(&file, &id);
    let front = format!("nf-{id}-front");
    let net_id = docker_ok(&["network", "inspect", &front, "--format", "{{.Id}}"]);
    let bridge = format!("br-{}", &net_id.trim()[..12]);
    let rule = ["DOCKER-ISOLATION-STAGE-2", "-o", &bridge, "-j", "DROP"];
    verify(&id, &[]).success();
    let deleted = std::process::Command::new("iptables")
        .arg("-D")
        .args(rule)
        .status()
        .unwrap();
    assert!(deleted.success(), "iptables -D {}", rule.join(" "));
    let restore = Restore(["-A"].into_iter().chain(rule).map(str::to_owned).collect());
    let out = verify(&id, &[]);
    out.code(1);
    let err = out.stderr();
    assert!(
        err.lines().any(|l| l.contains("host rules")
            && l.contains(&front)
            && l.contains(&format!(
                "missing `-A DOCKER-ISOLATION-STAGE-2 -o {bridge} -j DROP`"
            ))
            && l.contains("restart dockerd")),
        "verify names the network and the rule:\n{err}"
    );
    drop(restore);
    verify(&id, &[]).success();
    down(&id);
}

/// On Docker 28, `verify` also reads the raw table, where the engine drops what reaches
/// each running container's address from anywhere but its bridge: with web's drop gone
/// (as a firewall reload removes it), it names the container, the network, the address
/// and the rule; with the rule back, it is clean again. Engines before 28 write no such
/// drop, and `verify` expects none there.
#[test]
fn a_missing_raw_drop_of_a_container_is_named_by_verify() {
    // Not alone: without web's drop, the filter table's isolation rules still keep other
    // bridges out; only a host routing to web's address directly could reach it.
    let _turn = turn();
    let Some(e2e) = E2e::start("vraw") else {
        return;
    };
    let (_dir, file) = three();
    let id = e2e.id.clone();
    keep_up(&file, &id);
    let front = format!("nf-{id}-front");
    let web = format!("nf-{id}-three-web-1");
    let ip = docker_ok(&[
        "inspect",
        &web,
        "--format",
        &format!("{{{{(index .NetworkSettings.Networks \"{front}\").IPAddress}}}}"),
    ]);
    let ip = ip.trim();
    let raw_rows = |report: &serde_json::Value| -> Vec<serde_json::Value> {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["check"] == "host rules")
            .filter(|r| {
                r["expected"]
                    .as_str()
                    .unwrap()
                    .starts_with("raw PREROUTING")
            })
            .cloned()
            .collect()
    };
    let report = verify(&id, &["--format", "json"]).success().json();
    if engine_major() < 28 {
        assert!(raw_rows(&report).is_empty(), "{report:#}");
        let raw = std::process::Command::new("iptables")
            .args(["-t", "raw", "-S"])
            .output()
            .unwrap();
        let raw = String::from_utf8_lossy(&raw.stdout);
        assert!(
            !raw.contains(&format!("-d {ip}/32 ")),
            "the engine writes no drop for web either:\n{raw}"
        );
        down(&id);
        return;
    }
    // web and api are on front; db only on the internal back, where the engine writes none.
    let subjects: Vec<String> = raw_rows(&report)
        .iter()
        .map(|r| r["subject"].as_str().unwrap().to_owned())
        .collect();
    let web_row = format!("web ({web}) on {front}");
    assert_eq!(
        subjects,
        [
            format!("api (nf-{id}-three-api-1) on {front}"),
            web_row.clone()
        ],
        "{report:#}"
    );
    let net_id = docker_ok(&["network", "inspect", &front, "--format", "{{.Id}}"]);
    let bridge = format!("br-{}", &net_id.trim()[..12]);
    let dest = format!("{ip}/32");
    let rule = ["PREROUTING", "-d", &dest, "!", "-i", &bridge, "-j", "DROP"];
    let deleted = std::process::Command::new("iptables")
        .args(["-t", "raw", "-D"])
        .args(rule)
        .status()
        .unwrap();
    assert!(deleted.success(), "iptables -t raw -D {}", rule.join(" "));
    let restore = Restore(
        ["-t", "raw", "-A"]
            .into_iter()
            .chain(rule)
            .map(str::to_owned)
            .collect(),
    );
    let out = verify(&id, &[]);
    out.code(1);
    let err = out.stderr();
    let missing = format!("missing `-A PREROUTING -d {ip}/32 ! -i {bridge} -j DROP` ({ip})");
    assert!(
        err.lines().any(|l| l.starts_with("  host rules")
            && l.contains(&web_row)
            && l.contains(&missing)
            && l.contains("restart dockerd")),
        "verify names the container, network, address and rule:\n{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("host rules")).count(),
        1,
        "only web's drop is missing:\n{err}"
    );
    drop(restore);
    verify(&id, &[]).success();
    down(&id);
}
