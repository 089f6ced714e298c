//! Scale on a real engine: ten concurrent `netfence run`s of the 7-service stack, and
//! `--parallel`. Needs Docker + Compose v2.

use crate::binary::{Netfence, Running};
use crate::support::*;

/// CMD for each copy: service name and old container_name answer inside its own stack.
/// Each probe gets a few tries: with seventy containers starting on two cores (and other
/// tests running) the engine's embedded DNS can miss one lookup.
const CHECK: &str = r#"set -e
edge="$NETFENCE_PROJECT-edge-1"
answer() { for i in 1 2 3 4 5; do
    got="$(docker exec "$edge" nc -w3 "$1" "$2" </dev/null 2>&1)" && [ "$got" = "$3" ] && return 0
    echo "try $i: $1:$2 said: $got" >&2; sleep 1
  done; return 1; }
answer web 8080 hello-web
answer shop-api 8000 hello-api
test -s "$NETFENCE_RUN_INFO"
test -n "$NETFENCE_WEB_8080"
"#;

#[test]
fn ten_concurrent_runs_all_pass_and_leave_nothing() {
    let Some(e2e) = E2e::start("ten") else { return };
    let dir = e2e.fixture("stack7");
    let ids: Vec<String> = (0..10).map(|i| e2e.run_id(&i.to_string())).collect();
    let children: Vec<_> = ids
        .iter()
        .map(|id| {
            Netfence::new()
                .args(["run", "-f"])
                .arg(dir.join("compose.yml"))
                .args(["--run-id", id, "--timeout", "300s", "--", "sh", "-c", CHECK])
                .spawn()
        })
        .collect();
    let outs: Vec<_> = children.into_iter().map(Running::wait).collect();
    let failed: Vec<String> = ids
        .iter()
        .zip(&outs)
        .filter(|(_, o)| !o.status().success())
        .map(|(id, o)| format!("run {id}: {o}"))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of 10 failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    let left: Vec<String> = e2e
        .leftovers()
        .into_iter()
        .filter(|l| !is_phantom_network(l))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Nothing of any of them under any label either: no container of their projects.
    for id in &ids {
        let filter = format!("label=com.docker.compose.project=nf-{id}-shop");
        assert_eq!(docker_ok(&["ps", "-aq", "--filter", &filter]), "");
    }
}

#[test]
fn parallel_copies_get_an_index_and_a_summary() {
    let Some(e2e) = E2e::start("par") else { return };
    let dir = e2e.fixture("small");
    for i in 0..3 {
        e2e.guard(&format!("run:{}-{i}", e2e.id));
    }
    // Non-zero when a copy failed, and a summary of them all.
    let out = Netfence::new()
        .args(["run", "-f"])
        .arg(dir.join("compose.yml"))
        .args(["--run-id", &e2e.id, "--parallel", "3", "--"])
        .args([
            "sh",
            "-c",
            "test \"$NETFENCE_RUN_ID\" = \"$0-$NETFENCE_INDEX\" && exit $NETFENCE_INDEX",
            &e2e.id,
        ])
        .run();
    out.code(1);
    for (i, verdict) in [
        (0, "ok, exit 0"),
        (1, "FAILED, exit 1"),
        (2, "FAILED, exit 2"),
    ] {
        out.stderr_has(&format!("copy {i} (run:{}-{i}): {verdict}", e2e.id));
    }
    assert!(e2e.leftovers().is_empty(), "{:?}", e2e.leftovers());
}
