//! `rewrite --overlay`: the fence as a Compose override file. One directory per case
//! under `fixtures/overlay/` (laid out like `fixtures/rewrite/`), its overlay an insta
//! snapshot beside it. That Compose reads input + overlay exactly as the full rewrite is
//! judged by the real Compose in the conformance tests, for these fixtures, the rewrite
//! fixtures and the corpus; here: what the user sees and that nothing of theirs is
//! written.

use std::path::{Path, PathBuf};

use super::fixtures::{load_files, read_case};
use netfence::{Options, Project};

fn overlay_of(dir: &Path) -> String {
    let case = read_case(dir);
    let mut project =
        Project::new(load_files(&case.files), None, &dir.join("no-working-dir")).unwrap();
    let policy = dir.join("policy.yml");
    if policy.exists() {
        let source = netfence::Source::File("policy.yml".into());
        let text = std::fs::read_to_string(&policy).unwrap();
        project.policy = netfence::LoadedPolicy {
            policy: netfence::Policy::from_text(&source, &text).unwrap(),
            source,
        };
    }
    let plan = project
        .plan(&Options {
            scope: Some(case.scope.clone()),
            project: Some("shop".into()),
            ..Options::default()
        })
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let overlay = project
        .overlay(&plan)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    netfence::yaml::to_string(&overlay)
}

#[test]
fn overlay_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/overlay");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixtures/overlay exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 5, "overlay fixtures: {dirs:?}");
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let out = overlay_of(&dir);
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(&dir);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_description(format!("fixtures/overlay/{name}"));
        settings.bind(|| insta::assert_snapshot!("overlay", out));
        assert_eq!(
            overlay_of(&dir),
            out,
            "{name}: the same input, another overlay"
        );
    }
}

#[test]
fn an_already_fenced_file_needs_an_empty_overlay() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/overlay/fenced-input");
    assert_eq!(overlay_of(&dir), "{}\n");
}

const STACK: &str = "# the user's comment stays\nservices:\n  db:\n    image: postgres  # pinned later\n    container_name: fixed-db\n    ports: ['5433:5432']\n";

fn stack_in(dir: &Path) -> PathBuf {
    let f = dir.join("compose.yml");
    std::fs::write(&f, STACK).unwrap();
    f
}

#[test]
fn overlay_goes_to_a_file_and_the_compose_file_is_untouched() {
    let d = tempfile::tempdir().unwrap();
    let f = stack_in(d.path());
    let fence = d.path().join("fence.yml");
    let write = || {
        crate::netfence_offline()
            .current_dir(d.path())
            .args(["rewrite", "--overlay", "--run-id", "t1", "-p", "demo"])
            .args(["-f", "compose.yml", "-o", "fence.yml"])
            .run()
            .success()
            .stdout_is("");
        std::fs::read_to_string(&fence).unwrap()
    };
    let first = write();
    assert!(
        first.starts_with("# netfence overlay (scope run:t1)"),
        "{first}"
    );
    assert!(
        first.contains("docker compose -f compose.yml -f <this file>"),
        "{first}"
    );
    assert!(first.contains("name: nf-t1-demo\n"), "{first}");
    assert!(first.contains("container_name: !reset null"), "{first}");
    assert!(
        first.contains("ports: !override\n    - '127.0.0.1::5432'"),
        "{first}"
    );
    assert!(
        first.contains("networks: !override\n      default:"),
        "{first}"
    );
    assert_eq!(write(), first, "the same input, the same overlay");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), STACK);
    // The file and its overlay read together are fenced already: nothing more to say.
    let both = [
        "-f",
        "compose.yml",
        "-f",
        "fence.yml",
        "--run-id",
        "t1",
        "-p",
        "demo",
    ];
    crate::netfence_offline()
        .current_dir(d.path())
        .args(["rewrite", "--overlay"])
        .args(both)
        .run()
        .success()
        .stdout_has("\n{}\n");
    crate::netfence_offline()
        .current_dir(d.path())
        .args(["rewrite", "--check"])
        .args(both)
        .run()
        .success();
}

#[test]
fn overlay_never_replaces_a_file_it_fences() {
    let d = tempfile::tempdir().unwrap();
    let f = stack_in(d.path());
    crate::netfence_offline()
        .args(["rewrite", "--overlay", "--run-id", "t1", "-f"])
        .arg(&f)
        .arg("-o")
        .arg(&f)
        .run()
        .code(2)
        .stderr_has("which the overlay fences")
        .stderr_has("-o fence.yml");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), STACK);
}

#[test]
fn overlay_is_yaml_for_compose_only() {
    for (extra, says) in [
        (["--format", "json"], "cannot be used with"),
        (["--target", "swarm"], "docker stack deploy"),
    ] {
        crate::netfence_offline()
            .args(["rewrite", "--overlay", "--run-id", "t1"])
            .args(extra)
            .stdin(STACK)
            .run()
            .code(2)
            .stderr_has(says);
    }
}

#[test]
fn run_overlay_refuses_stdin_before_touching_the_engine() {
    let d = tempfile::tempdir().unwrap();
    crate::netfence_offline()
        .current_dir(d.path())
        .args(["run", "--overlay", "--run-id", "t1", "--", "true"])
        .stdin(STACK)
        .run()
        .code(2)
        .stderr_has("standard input cannot be read twice");
}
