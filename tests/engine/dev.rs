//! `netfence up` / `port` / `down` on a real engine: two checkouts of
//! one stack, in directories of the same name, side by side on stable host ports; and
//! `gc`, which leaves a checkout's stack alone unless asked. Needs Docker + Compose v2.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use netfence::checkout::Checkout;

use crate::binary::{Netfence, Outcome};
use crate::support::*;

/// A stack that cannot run twice as written: fixed container names, a fixed host port.
/// Each checkout's `.env` says who answers, so an address proves which stack it reaches;
/// each start of `web` adds a line to its volume.
const SHOP: &str = r#"services:
  web:
    image: netfence-busybox:latest
    container_name: shop-web
    command: ["sh", "-c", "echo start >> /data/starts && mkdir -p /www && echo hello-${GREETING:-none} > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["8080:80"]
    volumes: ["data:/data"]
  worker:
    image: netfence-busybox:latest
    container_name: shop-worker
    command: ["sleep", "3600"]
volumes:
  data: {}
"#;

const LIMIT: Duration = Duration::from_secs(300);

/// `<root>/<parent>/shop`: a `git init`ed clone, or with `worktree` a `.git` file as
/// `git worktree add` leaves one.
fn checkout(root: &Path, parent: &str, worktree: bool) -> PathBuf {
    let dir = root.join(parent).join("shop");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("compose.yml"), SHOP).unwrap();
    std::fs::write(dir.join(".env"), format!("GREETING={parent}\n")).unwrap();
    if worktree {
        let gitdir = root.join("main/.git/worktrees").join(parent);
        std::fs::write(dir.join(".git"), format!("gitdir: {}\n", gitdir.display())).unwrap();
    } else {
        let init = Command::new("git")
            .args(["init", "-q"])
            .current_dir(&dir)
            .status();
        if !init.is_ok_and(|s| s.success()) {
            std::fs::create_dir(dir.join(".git")).unwrap();
        }
    }
    std::fs::canonicalize(dir).unwrap()
}

fn up(dir: &Path) -> Outcome {
    Netfence::new()
        .current_dir(dir)
        .arg("up")
        .timeout(LIMIT)
        .run()
}

fn down(dir: &Path) -> Outcome {
    Netfence::new().current_dir(dir).arg("down").run()
}

/// `netfence port web 80` in the checkout.
fn port(dir: &Path) -> String {
    let out = Netfence::new()
        .current_dir(dir)
        .args(["port", "web", "80"])
        .run();
    out.success().stdout().trim().to_owned()
}

/// What the address answers to an HTTP GET (asked again while httpd starts).
fn get(addr: &str) -> String {
    wait_for(
        &format!("{addr} to answer"),
        Duration::from_secs(30),
        || {
            let mut s =
                TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(3)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
            let mut got = String::new();
            let _ = s.read_to_string(&mut got);
            got.contains("200").then_some(got)
        },
    )
}

fn container_ids(scope: &str) -> String {
    docker_ok(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=io.netfence.scope={scope}"),
    ])
}

#[test]
fn two_checkouts_of_one_stack_run_side_by_side_on_stable_ports() {
    let Some(e2e) = E2e::start("dev") else { return };
    let root = tempfile::tempdir().unwrap();
    let a = checkout(root.path(), "a", false);
    let b = checkout(root.path(), "b", true);
    let (ca, cb) = (Checkout::of(&a), Checkout::of(&b));
    assert_ne!(ca.slug, cb.slug, "same directory name, different checkouts");
    let (sa, sb) = (ca.scope().to_string(), cb.scope().to_string());
    e2e.guard(&sa);
    e2e.guard(&sb);

    // Both at once.
    let (ua, ub) = (
        Netfence::new()
            .current_dir(&a)
            .arg("up")
            .timeout(LIMIT)
            .spawn(),
        Netfence::new()
            .current_dir(&b)
            .arg("up")
            .timeout(LIMIT)
            .spawn(),
    );
    for (out, scope) in [(ua.wait(), &sa), (ub.wait(), &sb)] {
        out.success()
            .stdout_has("SERVICE")
            .stdout_has("http://127.0.0.1:")
            .stderr_has(&format!("{scope} is up"));
    }
    let (pa, pb) = (port(&a), port(&b));
    assert_ne!(pa, pb);
    for p in [&pa, &pb] {
        let n: u16 = p.strip_prefix("127.0.0.1:").unwrap().parse().unwrap();
        assert!((20000..=29999).contains(&n), "{p} is in the default range");
    }
    assert!(get(&pa).contains("hello-a"), "{pa} is checkout a's");
    assert!(get(&pb).contains("hello-b"), "{pb} is checkout b's");
    // What `ls` will show: where each stack comes from.
    let labelled = docker_ok(&[
        "ps",
        "--filter",
        &format!("label=io.netfence.checkout={}", a.display()),
        "--format",
        "{{.Label \"io.netfence.scope\"}}",
    ]);
    assert_eq!(labelled.lines().collect::<Vec<_>>(), [&sa, &sa]);

    // `up` again in a checkout that is up changes nothing.
    let before = container_ids(&sa);
    up(&a)
        .success()
        .stdout_has(&pa)
        .stderr_has(&format!("{sa} is up ("));
    assert_eq!(container_ids(&sa), before, "no container was recreated");

    // Down and up again: the same address.
    down(&a)
        .success()
        .stderr_has(&format!("{sa} (checkout {})", a.display()));
    let kept = leftovers_of(&sa);
    assert!(
        kept.len() == 1 && kept[0].starts_with("volume "),
        "only the volume is kept: {kept:?}"
    );
    assert_eq!(port(&b), pb, "the other checkout is untouched");
    up(&a).success();
    assert_eq!(port(&a), pa, "a bookmarked address survives down/up");
    assert!(get(&pa).contains("hello-a"));
    let web = docker_ok(&[
        "ps",
        "--filter",
        &format!("label=io.netfence.scope={sa}"),
        "--filter",
        "label=com.docker.compose.service=web",
        "--format",
        "{{.Names}}",
    ]);
    let (ok, starts) = exec(&web, "wc -l < /data/starts");
    assert!(ok, "{starts}");
    assert_eq!(starts.trim(), "2", "the volume survives down/up");

    for (dir, scope) in [(&a, &sa), (&b, &sb)] {
        down(dir)
            .success()
            .stderr_has("volumes kept: add --volumes");
        let left = leftovers_of(scope);
        assert!(left.iter().all(|o| o.starts_with("volume ")), "{left:?}");
        Netfence::new()
            .current_dir(dir)
            .args(["down", "--volumes"])
            .run()
            .success()
            .stderr_has("removed 0 container(s), 0 network(s), 1 volume(s)");
    }
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
    down(&a).success().stderr_has(&format!("nothing of {sa}"));
}

#[test]
fn port_names_what_is_missing() {
    let Some(e2e) = E2e::start("devport") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let a = checkout(root.path(), "solo", false);
    let scope = Checkout::of(&a).scope().to_string();
    e2e.guard(&scope);
    Netfence::new()
        .current_dir(&a)
        .args(["port", "web", "80"])
        .run()
        .code(2)
        .stderr_has(&format!("nothing of {scope} is running"));
    up(&a).success();
    Netfence::new()
        .current_dir(&a)
        .args(["port", "web", "81"])
        .run()
        .code(2)
        .stderr_has("publishes no port 81/tcp; it publishes: 80/tcp");
    Netfence::new()
        .current_dir(&a)
        .args(["port", "db", "80"])
        .run()
        .code(2)
        .stderr_has("its services: web, worker");
    // From a subdirectory, and with -f from elsewhere: the same checkout.
    let sub = a.join("docs");
    std::fs::create_dir(&sub).unwrap();
    let here = port(&a);
    assert_eq!(port(&sub), here);
    Netfence::new()
        .args(["port", "web", "80", "-f"])
        .arg(a.join("compose.yml"))
        .run()
        .success()
        .stdout_is(&format!("{here}\n"));
    Netfence::new()
        .current_dir(&a)
        .args(["down", "--volumes"])
        .run()
        .success();
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}

#[test]
fn gc_leaves_a_checkouts_stack_unless_asked_and_its_checkout_is_gone() {
    // `gc --older-than 0s` would take other tests' kept runs: no other test meanwhile.
    let _alone = alone();
    let Some(e2e) = E2e::start("devgc") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let a = checkout(root.path(), "kept", false);
    let scope = Checkout::of(&a).scope().to_string();
    e2e.guard(&scope);
    up(&a).success();
    let live = leftovers_of(&scope);
    Netfence::new()
        .args(["gc", "--older-than", "0s"])
        .run()
        .success()
        .stdout_lacks(&scope);
    Netfence::new()
        .args(["gc", "--older-than", "0s", "--dev"])
        .run()
        .success()
        .stdout_lacks(&scope);
    assert_eq!(
        leftovers_of(&scope),
        live,
        "a checkout that exists keeps its stack"
    );
    // The worktree is removed without `down`: `gc --dev` takes what it left.
    std::fs::remove_dir_all(&a).unwrap();
    Netfence::new()
        .args(["gc", "--older-than", "0s", "--dev", "--dry-run"])
        .run()
        .success()
        .stdout_has("would remove container")
        .stdout_has(&format!("({scope})"));
    assert_eq!(leftovers_of(&scope), live, "--dry-run removes nothing");
    Netfence::new()
        .args(["gc", "--older-than", "0s", "--dev"])
        .run()
        .success()
        .stdout_has(&format!("({scope})"))
        .stderr_has("dev stack(s) whose checkout is gone");
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}

#[test]
fn a_failed_up_removes_what_it_created() {
    let Some(e2e) = E2e::start("devfail") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let a = checkout(root.path(), "broken", false);
    std::fs::write(
        a.join("compose.yml"),
        "services:\n  web:\n    image: netfence-busybox:latest\n    command: [\"sh\", \"-c\", \"exit 3\"]\n    ports: [\"8080:80\"]\n",
    )
    .unwrap();
    let scope = Checkout::of(&a).scope().to_string();
    e2e.guard(&scope);
    up(&a)
        .code(3)
        .stderr_has("the stack did not come up")
        .stderr_has("exited with status 3");
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}
