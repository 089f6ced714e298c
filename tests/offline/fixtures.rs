//! One directory per rewrite rule under `fixtures/rewrite/`: `compose.yml` (plus any
//! files named in `args`), an optional `policy.yml`, and `args` with `key=value` lines
//! (`files=a.yml,b.yml`, `env=NAME`, `run_id=ID`, `dev=SLUG`, `target=swarm`,
//! `project=NAME`). The fenced output and the plan's change list are an insta snapshot
//! beside the input.
//! Every fixture is also checked for idempotence and clean re-scoping.

use std::path::{Path, PathBuf};

use netfence::load::{self, ComposeInput};
use netfence::{LoadedPolicy, Options, Policy, Project, Scope, Source, Target};

pub(super) struct Case {
    pub(super) dir: PathBuf,
    pub(super) files: Vec<PathBuf>,
    pub(super) scope: Scope,
    target: Target,
    project: Option<String>,
}

pub(super) fn read_case(dir: &Path) -> Case {
    let mut case = Case {
        dir: dir.to_owned(),
        files: vec![dir.join("compose.yml")],
        scope: Scope::Run("fx1".into()),
        target: Target::Compose,
        project: Some("shop".into()),
    };
    if let Ok(args) = std::fs::read_to_string(dir.join("args")) {
        for line in args
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (k, v) = line.split_once('=').expect("args lines are key=value");
            match k {
                "files" => case.files = v.split(',').map(|f| dir.join(f)).collect(),
                "env" => case.scope = Scope::Env(v.into()),
                "run_id" => case.scope = Scope::Run(v.into()),
                "dev" => case.scope = Scope::Dev(v.into()),
                "target" => {
                    case.target = if v == "swarm" {
                        Target::Swarm
                    } else {
                        Target::Compose
                    }
                }
                "project" => case.project = Some(v.to_owned()).filter(|p| !p.is_empty()),
                other => panic!("{}: unknown args key {other}", dir.display()),
            }
        }
    }
    case
}

fn project_from(case: &Case, input: ComposeInput) -> Project {
    let mut project = Project::new(input, None, &case.dir.join("no-working-dir")).expect("policy");
    let policy_path = case.dir.join("policy.yml");
    if policy_path.exists() {
        let source = Source::File(PathBuf::from("policy.yml"));
        let text = std::fs::read_to_string(&policy_path).unwrap();
        project.policy = LoadedPolicy {
            policy: Policy::from_text(&source, &text).expect("fixture policy is valid"),
            source,
        };
    }
    project
}

pub(super) fn fence(case: &Case, input: ComposeInput, scope: &Scope) -> (netfence::Plan, String) {
    fence_with(case, input, scope, false)
}

/// Re-scoping fenced output is the user's own move (a trusted file): in tenant mode a
/// record of another scope is refused instead (see `tenant_mode_refuses_a_record_of_another_scope`).
pub(super) fn fence_trusted(
    case: &Case,
    input: ComposeInput,
    scope: &Scope,
) -> (netfence::Plan, String) {
    fence_with(case, input, scope, true)
}

fn fence_with(
    case: &Case,
    input: ComposeInput,
    scope: &Scope,
    trusted: bool,
) -> (netfence::Plan, String) {
    let mut project = project_from(case, input);
    if trusted {
        project.policy.policy.tenant.enabled = Some(false);
    }
    let opts = Options {
        scope: Some(scope.clone()),
        project: case.project.clone(),
        target: case.target,
        ..Options::default()
    };
    let plan = project
        .plan(&opts)
        .unwrap_or_else(|e| panic!("{}: {e}", case.dir.display()));
    let out = netfence::yaml::to_string(&project.rewrite(&plan));
    (plan, out)
}

pub(super) fn load_files(files: &[PathBuf]) -> ComposeInput {
    let mut input = load::load(files, &mut std::io::empty()).expect("fixture loads");
    // Paths in snapshots must not depend on where the repository is checked out.
    input.sources = files
        .iter()
        .map(|f| Source::File(PathBuf::from(f.file_name().unwrap())))
        .collect();
    input
}

pub(super) fn reload(text: &str) -> ComposeInput {
    ComposeInput::from_str(Source::File("fenced.yml".into()), text).expect("output parses")
}

#[test]
fn rewrite_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rewrite");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("fixtures/rewrite exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 25,
        "expected at least 25 rewrite fixtures, found {}",
        dirs.len()
    );
    let mut cross_kind = Vec::new();
    for dir in dirs {
        let case = read_case(&dir);
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let (plan, out) = fence(&case, load_files(&case.files), &case.scope);

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
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(&dir);
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_description(format!("fixtures/rewrite/{name}"));
        settings.bind(|| {
            insta::assert_snapshot!("rewrite", format!("{}\n---\n{}", changes.join("\n"), out));
        });

        // Rule 12: the same scope again changes nothing ...
        let (_, again) = fence(&case, reload(&out), &case.scope);
        assert_eq!(again, out, "{name}: rewriting the output is not idempotent");
        // ... and another scope re-scopes as if from the original.
        let other = match &case.scope {
            Scope::Run(_) => Scope::Run("other9".into()),
            Scope::Env(_) => Scope::Env("other9".into()),
            Scope::Dev(_) => Scope::Dev("other9".into()),
        };
        let (_, from_original) = fence_trusted(&case, load_files(&case.files), &other);
        let (_, rescoped) = fence_trusted(&case, reload(&out), &other);
        assert_eq!(
            rescoped, from_original,
            "{name}: re-scoping differs from fencing the original"
        );
        // Across kinds too: a run's output deployed to an environment, and back.
        let across = match &case.scope {
            Scope::Run(_) | Scope::Dev(_) => Scope::Env("other9".into()),
            Scope::Env(_) => Scope::Run("other9".into()),
        };
        let (_, from_original) = fence_trusted(&case, load_files(&case.files), &across);
        let (_, rescoped) = fence_trusted(&case, reload(&out), &across);
        if rescoped != from_original {
            cross_kind.push(name.clone());
        }
    }
    assert!(
        cross_kind.is_empty(),
        "re-scoping across kinds differs for {cross_kind:?}"
    );
}
