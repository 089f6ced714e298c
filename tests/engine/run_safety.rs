//! `run` on a shared host: the files it writes never follow a planted symlink,
//! and a run id a live run holds is refused. Needs Docker + Compose v2 (see support).

use std::path::{Path, PathBuf};

use crate::binary::Netfence;
use crate::support::*;

fn compose_file(dir: &Path) -> PathBuf {
    dir.join("compose.yml")
}

/// The scoped project name `run --run-id id` gives the stack in `dir`.
fn project_name(dir: &Path, id: &str) -> String {
    let plan = Netfence::new()
        .args(["plan", "--format", "json", "--run-id", id, "-f"])
        .arg(compose_file(dir))
        .run();
    plan.success();
    plan.json()["project_name"].as_str().unwrap().to_owned()
}

/// A symlink at `at` to a file of its own holding `precious`.
fn plant(at: &Path, victims: &Path) -> PathBuf {
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    let victim = victims.join(at.file_name().unwrap());
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, at).unwrap();
    victim
}

#[test]
fn run_files_never_follow_a_planted_symlink_and_relative_paths_still_resolve() {
    let Some(e2e) = E2e::start("symlink") else {
        return;
    };
    let dir = e2e.fixture("relative");
    let tmp = tempfile::tempdir().unwrap();
    let victims = tempfile::tempdir().unwrap();
    let project = project_name(&dir, &e2e.id);
    // The paths earlier versions wrote to: beside the input, and under $TMPDIR.
    let planted = [
        dir.join(format!(".netfence-{project}.yml")),
        tmp.path()
            .join("netfence")
            .join(&project)
            .join("run-info.json"),
    ];
    let targets: Vec<PathBuf> = planted.iter().map(|p| plant(p, victims.path())).collect();

    let script = r#"set -e
docker exec "$NETFENCE_PROJECT-app-1" cat /site/index.txt
docker exec "$NETFENCE_PROJECT-app-1" sh -c 'echo "greeting=$GREETING"'
stat -c 'mode=%a' "$(dirname "$NETFENCE_RUN_INFO")"
echo "info=$NETFENCE_RUN_INFO""#;
    let out = Netfence::new()
        .env("TMPDIR", tmp.path())
        .args(["run", "--keep", "--run-id", &e2e.id, "-f"])
        .arg(compose_file(&dir))
        .args(["--", "sh", "-c", script])
        .run();
    // The bind mount and the env_file were found beside the input.
    out.success()
        .stdout_has("fenced-ok")
        .stdout_has("greeting=hello-env")
        .stdout_has("mode=700");
    let info = out
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("info=").map(PathBuf::from))
        .unwrap();
    assert!(info.starts_with(tmp.path()), "{info:?}");
    assert!(!planted.contains(&info), "{info:?}");
    // --keep says where the run info is.
    out.stderr_has(&format!("run info: {}", info.display()));

    Netfence::new()
        .env("TMPDIR", tmp.path())
        .args(["down", "--run-id", &e2e.id])
        .run()
        .success();
    assert!(
        !info.parent().unwrap().exists(),
        "down removes the run directory"
    );
    for (link, target) in planted.iter().zip(&targets) {
        assert_eq!(std::fs::read_to_string(target).unwrap(), "precious");
        assert!(
            link.symlink_metadata().unwrap().is_symlink(),
            "{link:?} left"
        );
    }
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}

/// `sh -c` script for CMD: says it started (touches `$0`), waits until `$0.done` exists,
/// then checks that the run's whole stack is still there: `containers` running
/// containers, `networks` networks, of its own scope.
fn hold_then_check(containers: usize, networks: usize) -> String {
    format!(
        r#"touch "$0"
i=0; while [ ! -e "$0.done" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
f="label=io.netfence.scope=run:$NETFENCE_RUN_ID"
c=$(docker ps -q --filter "$f" | wc -l); n=$(docker network ls -q --filter "$f" | wc -l)
echo "containers=$c networks=$n"; [ "$c" -eq {containers} ] && [ "$n" -eq {networks} ]"#
    )
}

#[test]
fn a_run_id_a_live_run_holds_is_refused_and_that_run_keeps_its_stack() {
    let Some(e2e) = E2e::start("held") else {
        return;
    };
    let dir = e2e.fixture("small");
    let marker = dir.join("started");
    let run = || {
        Netfence::new()
            .args(["run", "--run-id", &e2e.id, "-f"])
            .arg(compose_file(&dir))
    };
    let first = run()
        .args(["--", "sh", "-c", &hold_then_check(2, 1)])
        .arg(&marker)
        .spawn();
    let owner = format!("pid {}", first.id());
    wait_for(
        "the first run's command",
        std::time::Duration::from_secs(180),
        || marker.exists().then_some(()),
    );
    // On this host the lock refuses it; with its lock elsewhere (another user, another
    // TMPDIR) the engine's owner labels do.
    let elsewhere = tempfile::tempdir().unwrap();
    for tmp in [None, Some(elsewhere.path())] {
        let second = match tmp {
            Some(t) => run().env("TMPDIR", t),
            None => run(),
        };
        second
            .args(["--", "true"])
            .run()
            .code(2)
            .stderr_has(&format!("run id `{}` is held by a live run", e2e.id))
            .stderr_has(&owner);
    }
    std::fs::write(dir.join("started.done"), "").unwrap();
    first.wait().success().stdout_has("containers=2 networks=1");
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}

#[test]
fn of_two_runs_started_at_once_with_one_id_one_is_refused() {
    let Some(e2e) = E2e::start("race") else {
        return;
    };
    let dir = e2e.fixture("small");
    let marker = dir.join("started");
    // The winner holds its stack until the loser has finished, then checks it.
    let spawn = || {
        Netfence::new()
            .args(["run", "--run-id", &e2e.id, "-f"])
            .arg(compose_file(&dir))
            .args(["--", "sh", "-c", &hold_then_check(2, 1)])
            .arg(&marker)
            .spawn()
    };
    let (a, b) = (spawn(), spawn());
    let (pa, pb) = (a.id(), b.id());
    let outcome = |r: crate::binary::Running| {
        std::thread::spawn(move || {
            let o = r.wait();
            (o.status().code(), o.to_string())
        })
    };
    let (a, b) = (outcome(a), outcome(b));
    // The loser ends on its own; then the winner may go on.
    let loser = wait_for(
        "one run to be refused",
        std::time::Duration::from_secs(120),
        || [&a, &b].iter().position(|h| h.is_finished()),
    );
    std::fs::write(dir.join("started.done"), "").unwrap();
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let (lost, won, winner) = if loser == 0 { (a, b, pb) } else { (b, a, pa) };
    assert_eq!(lost.0, Some(2), "{}", lost.1);
    assert!(lost.1.contains(&format!("pid {winner}")), "{}", lost.1);
    assert_eq!(won.0, Some(0), "{}", won.1);
    assert!(won.1.contains("containers=2 networks=1"), "{}", won.1);
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}
