//! `run` on a shared host (SPEC §5): the files it writes never follow a planted symlink,
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
