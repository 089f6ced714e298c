//! One directory per loading rule under `fixtures/load/`: `include:` and `extends:`
//! resolved as Compose resolves them, so every service Compose would run is fenced. Same
//! layout as `fixtures/rewrite/` (`compose.yml`, the files it names, optional `args`).
//! An input netfence accepts has its fenced output as the `rewrite` snapshot, with no
//! `include:` and no `extends: {file:}` left, and is checked for idempotence and clean
//! re-scoping; one it refuses has the message as the `error` snapshot (the fixture's
//! directory shown as `<fixture>`). `tests/conformance` holds both against Compose.

use std::path::{Path, PathBuf};

use netfence::load;
use netfence::Scope;

use super::fixtures::{fence, fence_trusted, load_files, read_case, reload};

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/load");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixtures/load exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// What Compose must not see in netfence's output: it would load the files again.
fn unresolved(out: &str) -> Vec<String> {
    let doc = reload(out).value;
    let mut left = Vec::new();
    if doc.get("include").is_some() {
        left.push("include".to_owned());
    }
    for (name, svc) in netfence::compose::services(&doc) {
        if svc.get("extends").and_then(|e| e.get("file")).is_some() {
            left.push(format!("services.{name}.extends.file"));
        }
    }
    left
}

#[test]
fn load_fixtures() {
    let dirs = cases();
    assert!(
        dirs.len() >= 7,
        "expected the load fixtures, found {}",
        dirs.len()
    );
    for dir in dirs {
        let case = read_case(&dir);
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(&dir);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_description(format!("fixtures/load/{name}"));
        let loaded = load::load(&case.files, &mut std::io::empty());
        let Ok(_) = loaded else {
            let e = loaded.unwrap_err().to_string();
            let shown = e.replace(&format!("{}/", dir.display()), "<fixture>/");
            settings.bind(|| insta::assert_snapshot!("error", shown));
            continue;
        };
        let (plan, out) = fence(&case, load_files(&case.files), &case.scope);
        assert!(
            unresolved(&out).is_empty(),
            "{name}: left for Compose to load again: {:?}",
            unresolved(&out)
        );
        let changes: Vec<String> = plan
            .changes
            .iter()
            .map(|c| format!("# {}: {} ({})", c.subject, c.change, c.reason))
            .chain(
                plan.warnings
                    .iter()
                    .map(|w| format!("# warning: {}: {}", w.subject, w.message)),
            )
            .collect();
        settings.bind(|| {
            insta::assert_snapshot!("rewrite", format!("{}\n---\n{}", changes.join("\n"), out));
        });
        let (_, again) = fence(&case, reload(&out), &case.scope);
        assert_eq!(again, out, "{name}: rewriting the output is not idempotent");
        let other = Scope::Run("other9".into());
        let (_, from_original) = fence_trusted(&case, load_files(&case.files), &other);
        let (_, rescoped) = fence_trusted(&case, reload(&out), &other);
        assert_eq!(rescoped, from_original, "{name}: re-scoping differs");
    }
}

/// A path netfence cannot re-base (it starts with a variable) is left as written, and
/// the user is told.
#[test]
fn a_path_it_cannot_rebase_is_a_note() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("inc")).unwrap();
    std::fs::write(
        dir.path().join("compose.yml"),
        "include: [inc/x.yml]\nservices: {a: {image: busybox}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("inc/x.yml"),
        "services:\n  b:\n    image: busybox\n    volumes: ['${DATA:-./data}:/data', './logs:/logs']\n",
    )
    .unwrap();
    let input = load::load(&[dir.path().join("compose.yml")], &mut std::io::empty()).unwrap();
    let vols = &input.value["services"]["b"]["volumes"];
    assert_eq!(vols[0].as_str(), Some("${DATA:-./data}:/data"));
    assert_eq!(vols[1].as_str(), Some("./inc/logs:/logs"));
    assert_eq!(input.notes.len(), 1, "{:?}", input.notes);
    assert!(
        input.notes[0].contains("starts with a variable"),
        "{:?}",
        input.notes
    );
}

/// Compose resolves an include's path with the variables it knows (the process's, the
/// project's `.env`); so does netfence, and a missing file is an error naming it.
#[test]
fn include_paths_are_interpolated_and_a_missing_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "PART=db\n").unwrap();
    std::fs::write(
        dir.path().join("compose.yml"),
        "include: ['${PART}.yml']\nservices: {a: {image: busybox}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("db.yml"),
        "services: {db: {image: postgres, container_name: db}}\n",
    )
    .unwrap();
    let input = load::load(&[dir.path().join("compose.yml")], &mut std::io::empty()).unwrap();
    assert!(input.value["services"].get("db").is_some());

    std::fs::remove_file(dir.path().join("db.yml")).unwrap();
    let e = load::load(&[dir.path().join("compose.yml")], &mut std::io::empty())
        .unwrap_err()
        .to_string();
    assert!(e.contains("db.yml"), "{e}");
}

/// The case through the binary, from another directory: the included file's
/// network is declared, its service is fenced and its paths work from the main file's
/// directory.
#[test]
fn rewrite_fences_what_an_include_brings() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/load/include-short-form/compose.yml");
    let elsewhere = tempfile::tempdir().unwrap();
    let out = crate::binary::Netfence::new()
        .current_dir(elsewhere.path())
        .args(["rewrite", "--run-id", "inc1", "-f"])
        .arg(&file)
        .run();
    out.success()
        .stdout_lacks("include:")
        .stdout_lacks("container_name:")
        .stdout_has("- \"127.0.0.1::5432\"")
        .stdout_has("./db/data:/var/lib/postgresql/data")
        .stdout_has("name: nf-inc1-back");
}
