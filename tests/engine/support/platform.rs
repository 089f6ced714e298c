//! Helpers for the platform-mode engine tests (environments, proxy, shared networks,
//! `ensure`, `reconcile`, Swarm): fixtures with the test's id filled in, and a guard that
//! also removes what carries no scope label — the cross-scope networks the test named, the
//! Compose projects it started from unfenced files, the Swarm stacks it deployed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::*;
use crate::binary::{Netfence, Outcome};

pub struct Platform {
    pub e2e: E2e,
    /// Networks named by the test (proxy, shared, flat): removed by exact name, after the
    /// containers, and only when netfence made them or the test did.
    networks: Mutex<Vec<String>>,
    /// Compose projects started from unfenced files (no netfence labels).
    projects: Mutex<Vec<String>>,
    stacks: Mutex<Vec<String>>,
    scopes: Mutex<Vec<String>>,
    dirs: Mutex<Vec<tempfile::TempDir>>,
}

impl Platform {
    pub fn start(tag: &str) -> Option<Platform> {
        Some(Platform {
            e2e: E2e::start(tag)?,
            networks: Mutex::new(Vec::new()),
            projects: Mutex::new(Vec::new()),
            stacks: Mutex::new(Vec::new()),
            scopes: Mutex::new(Vec::new()),
            dirs: Mutex::new(Vec::new()),
        })
    }

    pub fn id(&self) -> &str {
        &self.e2e.id
    }

    /// An environment name of this test (`<prefix>-<id>`), cleaned up at the end.
    pub fn env(&self, prefix: &str) -> String {
        let name = format!("{prefix}-{}", self.id());
        self.e2e.guard(&format!("env:{name}"));
        self.scopes.lock().unwrap().push(format!("env:{name}"));
        name
    }

    pub fn guard_network(&self, name: &str) {
        self.networks.lock().unwrap().push(name.to_owned());
    }

    pub fn guard_project(&self, name: &str) {
        self.projects.lock().unwrap().push(name.to_owned());
    }

    pub fn guard_stack(&self, name: &str) {
        self.stacks.lock().unwrap().push(name.to_owned());
    }

    /// A private copy of `fixtures/platform/<name>` with every `@ID@` replaced by the
    /// test's id (network names that several scopes share must differ between tests).
    pub fn fixture(&self, name: &str) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/platform")
            .join(name);
        let dir = tempfile::Builder::new()
            .prefix(&format!("nf-platform-{name}-"))
            .tempdir()
            .unwrap();
        let dst = dir.path().join(name);
        std::fs::create_dir_all(&dst).unwrap();
        for e in std::fs::read_dir(&src).unwrap() {
            let e = e.unwrap();
            let text = std::fs::read_to_string(e.path()).unwrap();
            std::fs::write(dst.join(e.file_name()), text.replace("@ID@", self.id())).unwrap();
        }
        self.dirs.lock().unwrap().push(dir);
        dst
    }

    /// `netfence ARGS…` run in `dir`; must exit 0. Its stdout.
    pub fn netfence_ok(&self, dir: &Path, args: &[&str]) -> String {
        self.netfence_in(dir, args).success().stdout()
    }

    /// `netfence ARGS…` run in `dir`.
    pub fn netfence_in(&self, dir: &Path, args: &[&str]) -> Outcome {
        Netfence::new().current_dir(dir).args(args).run()
    }

    /// `ensure --env ENV`, then `rewrite -f PROJECT.yml --env ENV -p PROJECT` and a plain
    /// `docker compose up -d` of the output (the project name is the one it carries).
    pub fn deploy(&self, dir: &Path, env: &str, project: &str, policy: Option<&str>) {
        let mut args = vec!["ensure", "--env", env];
        if let Some(pol) = policy {
            args.extend(["--policy", pol]);
        }
        self.netfence_ok(dir, &args);
        let file = format!("{project}.yml");
        let out = format!("{project}-{env}.fenced.yml");
        let mut args = vec![
            "rewrite", "-f", &file, "--env", env, "-p", project, "-o", &out,
        ];
        if let Some(pol) = policy {
            args.extend(["--policy", pol]);
        }
        self.netfence_ok(dir, &args);
        self.compose_up(dir, &out, None);
    }

    /// `docker compose -f FILE [-p P] up -d` in `dir`; must succeed.
    pub fn compose_up(&self, dir: &Path, file: &str, project: Option<&str>) {
        let mut args = vec!["compose", "-f", file];
        if let Some(p) = project {
            self.guard_project(p);
            args.extend(["-p", p]);
        }
        args.extend(["up", "-d", "--quiet-pull"]);
        let out = std::process::Command::new("docker")
            .current_dir(dir)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "docker {}: {}",
            args.join(" "),
            text(&out)
        );
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        for s in self.stacks.lock().unwrap().iter() {
            docker(&["stack", "rm", s]);
            // The stack's networks go once its tasks are gone.
            let filter = format!("label=com.docker.stack.namespace={s}");
            for _ in 0..100 {
                let left = docker(&["network", "ls", "-q", "--filter", &filter]);
                let tasks = docker(&["ps", "-aq", "--filter", &filter]);
                if left.stdout.is_empty() && tasks.stdout.is_empty() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        for p in self.projects.lock().unwrap().iter() {
            let filter = format!("label=com.docker.compose.project={p}");
            let ids = String::from_utf8_lossy(&docker(&["ps", "-aq", "--filter", &filter]).stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>();
            if !ids.is_empty() {
                let mut a = vec!["rm", "-f", "-v"];
                a.extend(ids.iter().map(String::as_str));
                docker(&a);
            }
            for n in String::from_utf8_lossy(
                &docker(&["network", "ls", "-q", "--filter", &filter]).stdout,
            )
            .split_whitespace()
            {
                docker(&["network", "rm", n]);
            }
        }
        // Containers of the scopes first (the runs' too), so that shared networks can go.
        for s in self.scopes.lock().unwrap().iter() {
            remove_scope(s);
        }
        self.e2e.remove_scopes();
        for n in self.networks.lock().unwrap().iter() {
            for id in networks_named(n) {
                docker(&["network", "rm", &id]);
            }
        }
    }
}

/// Ids of the networks with exactly this name (duplicates included).
pub fn networks_named(name: &str) -> Vec<String> {
    let out = docker(&[
        "network",
        "ls",
        "--no-trunc",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.ID}} {{.Name}}",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, n)| *n == name)
        .map(|(id, _)| id.to_owned())
        .collect()
}

/// `docker inspect` of one object as JSON.
pub fn inspect(what: &str) -> serde_json::Value {
    let out = docker_ok(&["inspect", what]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

/// For a failed isolation check: every network of the engine whose subnet holds `ip`,
/// with its containers there, and what `from` sees of its own routes and what answers.
pub fn who_has(from: &str, ip: &str) -> String {
    let mut report = String::new();
    for id in docker_ok(&["network", "ls", "-q"]).lines() {
        let net = inspect(id);
        let subnets: Vec<String> = net["IPAM"]["Config"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(|s| s["Subnet"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let holders: Vec<String> = net["Containers"]
            .as_object()
            .map(|c| {
                c.values()
                    .filter(|e| {
                        e["IPv4Address"]
                            .as_str()
                            .is_some_and(|a| a.split('/').next() == Some(ip))
                    })
                    .map(|e| e["Name"].as_str().unwrap_or("?").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        if !holders.is_empty() {
            report.push_str(&format!(
                "\n  network {} {subnets:?} holds {ip} as {holders:?}",
                net["Name"].as_str().unwrap_or(id)
            ));
        }
    }
    let (_, routes) = exec(from, "ip route; ip -4 addr");
    let (_, answer) = exec(from, &format!("nc -w2 {ip} 8080 </dev/null"));
    format!("{report}\n  {from} routes:\n{routes}\n  answer: {answer:?}")
}

/// A container's networks: name → (IPv4 address, aliases).
pub fn attachments(container: &str) -> std::collections::BTreeMap<String, (String, Vec<String>)> {
    let c = inspect(container);
    c["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, ep)| {
            (
                name.clone(),
                (
                    ep["IPAddress"].as_str().unwrap_or_default().to_owned(),
                    ep["Aliases"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|s| s.as_str())
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
            )
        })
        .collect()
}

/// A container's label.
pub fn label(container: &str, key: &str) -> Option<String> {
    inspect(container)["Config"]["Labels"][key]
        .as_str()
        .map(str::to_owned)
}

/// Does `nc` from `from` reach `host:8080` (the fixtures' servers answer "hello")?
pub fn reaches(from: &str, host: &str) -> bool {
    let (ok, out) = exec(from, &format!("nc -w2 {host} 8080 </dev/null"));
    ok && out.contains("hello")
}

/// Which of `hosts` answer from `from` (probed at once, one second each): for the many
/// negative probes, which would otherwise wait out a timeout one after another.
pub fn answering(from: &str, hosts: &[String]) -> Vec<String> {
    if hosts.is_empty() {
        return Vec::new();
    }
    let script = format!(
        "for h in {}; do (nc -w1 $h 8080 </dev/null 2>/dev/null | grep -q hello && echo $h) & done; wait",
        hosts.join(" ")
    );
    let (_, out) = exec(from, &script);
    out.lines()
        .map(str::trim)
        .filter(|l| hosts.iter().any(|h| h == l))
        .map(str::to_owned)
        .collect()
}

/// Does `host` resolve inside `from`?
pub fn resolves(from: &str, host: &str) -> bool {
    exec(from, &format!("nslookup {host} >/dev/null 2>&1")).0
}

/// Waits until `from` reaches `host` (servers take a moment to listen).
pub fn wait_reaches(from: &str, host: &str) {
    wait_for(
        &format!("{from} to reach {host}:8080"),
        Duration::from_secs(20),
        || reaches(from, host).then_some(()),
    );
}
