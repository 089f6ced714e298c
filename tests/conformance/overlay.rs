//! `rewrite --overlay` against the full rewrite, judged by the real Compose: `docker compose -f INPUT… -f OVERLAY config --format json` must equal
//! `docker compose -f REWRITE config --format json`, whole (the project name included).
//! An input the overlay cannot express must be refused with a reason, which is counted
//! and listed, never passed over. For the fixtures, giving the overlay twice must read as
//! giving it once.
//!
//! Checked for every rewrite and overlay fixture here, and for every Compose-accepted
//! corpus file in `corpus_conformance` (see [`check`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as J;

use netfence::{Options, Project, Scope};

use super::{required, unavailable, ComposeCmd};

/// How the overlay of one input in one scope fared.
#[derive(Debug, Clone)]
pub(super) enum Verdict {
    /// Compose reads input + overlay exactly as the full rewrite.
    Equal,
    /// netfence refuses to write an overlay for it, with this reason.
    Refused(String),
    /// A failure: what differs, or what went wrong.
    Failed(String),
}

impl ComposeCmd {
    /// `config --format json` of `files`, then `stdin` as one more file when given; the
    /// project directory is `dir`, the environment empty, and `raw` skips interpolation.
    /// Compose cannot print `build.ssh` keys as JSON; such a project is compared as the
    /// YAML text Compose prints.
    pub(super) fn config_of(
        &self,
        dir: &Path,
        files: &[PathBuf],
        stdin: Option<&str>,
        raw: bool,
    ) -> Result<J, String> {
        match self.config_as(dir, files, stdin, raw, "json") {
            Err(e) if e.contains("MarshalJSON for type types.SSHKey") => self
                .config_as(dir, files, stdin, raw, "yaml")
                .map(|y| y.into()),
            other => other.and_then(|text| {
                serde_json::from_str(&text).map_err(|e| format!("compose printed no JSON: {e}"))
            }),
        }
    }

    fn config_as(
        &self,
        dir: &Path,
        files: &[PathBuf],
        stdin: Option<&str>,
        raw: bool,
        format: &str,
    ) -> Result<String, String> {
        let mut args = vec!["config", "--format", format];
        if raw {
            args.push("--no-interpolate");
        }
        let out = self.run(dir, files, stdin, &args)?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = err
                .lines()
                .filter(|l| !l.contains("level=warning") && !l.trim().is_empty())
                .collect();
            return Err(lines.join(" / "));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The full rewrite and the overlay (or why netfence refuses one) of `files`, from one
/// plan, with the built-in policy (tenant mode off) and an empty environment.
fn fence_both(
    files: &[PathBuf],
    dir: &Path,
    scope: &Scope,
    policy: Option<&Path>,
    no_policy_dir: &Path,
) -> netfence::Result<(String, Result<String, String>)> {
    let opts = netfence::load::LoadOptions {
        project_dir: Some(dir.to_path_buf()),
        environ: Some(BTreeMap::new()),
    };
    let input = netfence::load::load_with(files, &mut std::io::empty(), &opts)?;
    let mut project = Project::new(input, policy, no_policy_dir)?;
    project.policy.policy.tenant.enabled = Some(false);
    let plan = project.plan(&Options {
        scope: Some(scope.clone()),
        environ: BTreeMap::new(),
        ..Options::default()
    })?;
    let full = project.rewrite(&plan);
    let overlay = project
        .overlay_of(&full)
        .map(|o| netfence::yaml::to_string(&o))
        .map_err(|e| e.to_string());
    Ok((netfence::yaml::to_string(&full), overlay))
}

/// Judges the overlay of `files` in `scope` against the full rewrite. `raw`: Compose
/// accepts the input only without interpolation, so both sides are read that way.
pub(super) fn check(
    compose: &ComposeCmd,
    files: &[PathBuf],
    dir: &Path,
    scope: &Scope,
    raw: bool,
    policy: Option<&Path>,
    no_policy_dir: &Path,
) -> Verdict {
    let run = || fence_both(files, dir, scope, policy, no_policy_dir);
    let (full, overlay) = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
        Ok(Ok(both)) => both,
        // The full rewrite's refusals are the corpus test's to judge.
        Ok(Err(e)) => return Verdict::Refused(format!("the full rewrite is refused: {e}")),
        Err(_) => return Verdict::Failed("netfence panicked".into()),
    };
    let overlay = match overlay {
        Ok(o) => o,
        Err(why) => return Verdict::Refused(why),
    };
    let expected = match compose.config_of(dir, &[], Some(&full), raw) {
        Ok(j) => j,
        Err(e) => return Verdict::Failed(format!("Compose refuses the full rewrite: {e}")),
    };
    match compose.config_of(dir, files, Some(&overlay), raw) {
        Ok(got) if got == expected => Verdict::Equal,
        Ok(got) => Verdict::Failed(format!(
            "input + overlay differs from the full rewrite: {}",
            first_difference(&expected, &got, String::new())
        )),
        Err(e) => Verdict::Failed(format!("Compose refuses input + overlay: {e}")),
    }
}

/// Giving the overlay a second time changes nothing Compose reads.
fn twice_is_once(
    compose: &ComposeCmd,
    files: &[PathBuf],
    dir: &Path,
    scope: &Scope,
    raw: bool,
    policy: Option<&Path>,
    no_policy_dir: &Path,
) -> Result<(), String> {
    let (_, overlay) =
        fence_both(files, dir, scope, policy, no_policy_dir).map_err(|e| e.to_string())?;
    let overlay = overlay?;
    let once = compose.config_of(dir, files, Some(&overlay), raw)?;
    let tmp = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(tmp.path(), &overlay).map_err(|e| e.to_string())?;
    let mut with_first = files.to_vec();
    with_first.push(tmp.path().to_path_buf());
    let twice = compose.config_of(dir, &with_first, Some(&overlay), raw)?;
    if once == twice {
        Ok(())
    } else {
        Err(format!(
            "the overlay given twice reads otherwise: {}",
            first_difference(&once, &twice, String::new())
        ))
    }
}

/// Where two of Compose's views first differ, as `path: expected …, got …`.
pub(super) fn first_difference(expected: &J, got: &J, path: String) -> String {
    match (expected, got) {
        (J::Object(a), J::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) if va == vb => {}
                    Some(vb) => return first_difference(va, vb, format!("{path}.{k}")),
                    None => return format!("{path}.{k}: expected {va}, missing"),
                }
            }
            match b.keys().find(|k| !a.contains_key(*k)) {
                Some(k) => format!("{path}.{k}: unexpected {}", b[k]),
                None => format!("{path}: key order"),
            }
        }
        (J::Array(a), J::Array(b)) if a.len() == b.len() => {
            match a.iter().zip(b).position(|(x, y)| x != y) {
                Some(i) => first_difference(&a[i], &b[i], format!("{path}[{i}]")),
                None => format!("{path}: equal"),
            }
        }
        _ => format!("{path}: expected {expected}, got {got}"),
    }
}

/// Every rewrite and loading fixture (one directory each, with `files=` in `args` for
/// several files), and those under `fixtures/overlay/`.
fn fixture_cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut dirs = Vec::new();
    for group in ["rewrite", "load", "overlay"] {
        let Ok(entries) = std::fs::read_dir(root.join(group)) else {
            continue;
        };
        dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    dirs.sort();
    dirs
}

/// A fixture's scope and files from its `args` (`run_id=`, `env=`, `files=`; other keys
/// do not concern the overlay).
fn fixture_args(dir: &Path) -> (Scope, Vec<PathBuf>, Option<String>) {
    let mut scope = Scope::Run("fx1".into());
    let mut files = vec![dir.join("compose.yml")];
    let mut target = None;
    let args = std::fs::read_to_string(dir.join("args")).unwrap_or_default();
    for line in args.lines().map(str::trim) {
        match line.split_once('=') {
            Some(("files", v)) => files = v.split(',').map(|f| dir.join(f)).collect(),
            Some(("run_id", v)) => scope = Scope::Run(v.into()),
            Some(("env", v)) => scope = Scope::Env(v.into()),
            Some(("dev", v)) => scope = Scope::Dev(v.into()),
            Some(("target", v)) => target = Some(v.to_owned()),
            _ => {}
        }
    }
    (scope, files, target)
}

#[test]
fn overlay_fixtures_read_as_the_full_rewrite() {
    let Some(compose) = ComposeCmd::find() else {
        unavailable("Docker Compose v2 not found; scripts/provision-engine.sh installs it");
        return;
    };
    let no_policy = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    let mut equal = 0;
    let mut skipped = Vec::new();
    for dir in fixture_cases() {
        let name = dir.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&dir);
        let (scope, files, target) = fixture_args(&dir);
        if target.as_deref() == Some("swarm") {
            // An overlay is for `docker compose`; `rewrite` refuses --overlay for swarm.
            continue;
        }
        let policy = dir.join("policy.yml");
        let policy = policy.exists().then_some(policy.as_path());
        // A fixture with `${VAR:?}` is read as Compose reads a PaaS template: raw. One
        // Compose rejects both ways (a key it does not know) has nothing to equal.
        let raw = compose.config_of(&dir, &files, None, false).is_err();
        if raw && compose.config_of(&dir, &files, None, true).is_err() {
            skipped.push(name.display().to_string());
            continue;
        }
        let np = no_policy.path();
        match check(&compose, &files, &dir, &scope, raw, policy, np) {
            Verdict::Equal => {
                equal += 1;
                if let Err(why) = twice_is_once(&compose, &files, &dir, &scope, raw, policy, np) {
                    failures.push(format!("{}: {why}", name.display()));
                }
            }
            Verdict::Refused(why) => failures.push(format!("{}: refused: {why}", name.display())),
            Verdict::Failed(why) => failures.push(format!("{}: {why}", name.display())),
        }
    }
    eprintln!(
        "overlay fixtures: {equal} read as the full rewrite; {} failed; Compose rejects {:?}",
        failures.len(),
        skipped
    );
    assert!(
        failures.is_empty(),
        "{} overlay fixture failure(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    assert!(equal >= 30 || !required(), "only {equal} fixtures checked");
}
