//! `netfence audit`: lints a compose file's networking. Each rule has a stable id
//! (`NF001`…), a severity, and tells how to fix what it finds. Whether `netfence rewrite`
//! fixes a finding is not a per-rule claim: audit fences the file with the same plan and
//! audits the output, and a finding is "fixed by rewrite" when it is gone there.
//!
//! Rules read the input document as written (merged, anchors resolved); the plan tells
//! which networks netfence itself named, so that netfence's own output audits clean.

mod escapes;
pub mod human;
pub mod lines;
mod rules;

use std::path::Path;

use ipnet::IpNet;
use serde::Serialize;

use crate::error::{Result, Source};
use crate::plan::{Options, Plan};
use crate::Project;
use lines::{LineIndex, Seg};

pub use rules::{Rule, RULES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing audit found.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    /// The file the finding is in, as given on the command line (`<stdin>` for stdin).
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// What the finding is about: `service web`, `network backend`, ...
    pub subject: String,
    pub message: String,
    pub fix: String,
    /// Gone from the output of `netfence rewrite` with the same policy and scope.
    pub fixed_by_rewrite: bool,
    /// Identity of the finding across a rewrite (rule, subject and the detail).
    #[serde(skip)]
    pub(crate) key: String,
}

/// All findings of one audit, in file order, then line order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub files: Vec<String>,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn count(&self, at_least: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity >= at_least)
            .count()
    }

    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

/// The text of one input file, for line numbers.
#[derive(Debug, Clone)]
pub struct SourceText {
    pub name: String,
    pub text: String,
}

impl SourceText {
    pub fn new(source: &Source, text: impl Into<String>) -> SourceText {
        SourceText {
            name: source.to_string(),
            text: text.into(),
        }
    }
}

/// A subnet already in use on the engine (rule NF007).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Occupied {
    pub subnet: IpNet,
    /// The engine's network that holds it (empty when only the subnet is known).
    pub network: String,
}

/// Audits a loaded project. `opts` is what the plan is made with (scope, occupied subnets);
/// `texts` are the input files' texts, in `-f` order, for line numbers.
pub fn audit(
    project: &Project,
    opts: &Options,
    texts: &[SourceText],
    occupied: &[Occupied],
) -> Result<Report> {
    let mut opts = opts.clone();
    for o in occupied {
        if !opts.occupied.iter().any(|a| a.subnet == o.subnet) {
            opts.occupied
                .push(crate::avoid::Avoid::network(o.subnet, &o.network));
        }
    }
    let plan = project.plan(&opts)?;
    let mut drafts = rules::check(project.original(), project, &plan, occupied);
    drafts.extend(escapes::check(project, &plan, &opts));

    // The same plan applied, then audited: what is gone was fixed by the rewrite.
    let fenced = fenced_project(project, &plan);
    let after_opts = Options {
        scope: Some(plan.scope.clone()),
        ..opts.clone()
    };
    let after_keys: std::collections::BTreeSet<String> = match fenced.plan(&after_opts) {
        Ok(after_plan) => rules::check(fenced.original(), &fenced, &after_plan, occupied)
            .into_iter()
            .chain(escapes::check(&fenced, &after_plan, &after_opts))
            .map(|d| d.key)
            .collect(),
        // Cannot happen for a plan netfence made itself; if it does, claim nothing.
        Err(_) => drafts.iter().map(|d| d.key.clone()).collect(),
    };

    let indexes: Vec<(String, LineIndex)> = texts
        .iter()
        .map(|t| (t.name.clone(), LineIndex::new(&t.text)))
        .collect();
    let default_file = project.input.first_source().to_string();
    let mut findings: Vec<Finding> = drafts
        .into_iter()
        .map(|d| {
            let (file, pos) = locate(&indexes, &d.path, &default_file);
            Finding {
                rule: d.rule.id,
                name: d.rule.name,
                severity: d.severity.unwrap_or(d.rule.severity),
                file,
                line: pos.map(|p| p.line),
                column: pos.map(|p| p.column),
                subject: d.subject,
                message: d.message,
                fix: d.fix.unwrap_or_else(|| d.rule.fix.to_owned()),
                fixed_by_rewrite: !after_keys.contains(&d.key),
                key: d.key,
            }
        })
        .collect();
    let files: Vec<String> = if texts.is_empty() {
        project
            .input
            .sources
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        texts.iter().map(|t| t.name.clone()).collect()
    };
    let file_rank = |f: &str| files.iter().position(|x| x == f).unwrap_or(usize::MAX);
    findings.sort_by(|a, b| {
        (file_rank(&a.file), a.line, a.column, a.rule).cmp(&(
            file_rank(&b.file),
            b.line,
            b.column,
            b.rule,
        ))
    });
    Ok(Report { files, findings })
}

/// The project as `netfence rewrite` would leave it, with the same policy.
fn fenced_project(project: &Project, plan: &Plan) -> Project {
    let value = project.rewrite(plan);
    let (unfenced, record) = crate::unfence::unfence(value.clone());
    Project {
        input: crate::load::ComposeInput {
            sources: project.input.sources.clone(),
            value,
            project_dir: project.input.project_dir.clone(),
            notes: Vec::new(),
            references: Vec::new(),
            host: project.input.host.clone(),
        },
        unfenced,
        record,
        policy: project.policy.clone(),
        notes: Vec::new(),
    }
}

/// The file that holds most of `path` (the last such file: later files override earlier
/// ones) and the position there.
fn locate(
    indexes: &[(String, LineIndex)],
    path: &[Seg],
    default_file: &str,
) -> (String, Option<lines::Pos>) {
    let mut best: Option<(usize, &str, lines::Pos)> = None;
    for (name, index) in indexes {
        if let Some((pos, matched)) = index.locate(path) {
            if best.is_none_or(|(m, _, _)| matched >= m) {
                best = Some((matched, name, pos));
            }
        }
    }
    match best {
        Some((_, name, pos)) => (name.to_owned(), Some(pos).filter(|p| p.line > 0)),
        None => (
            indexes
                .last()
                .map(|(n, _)| n.clone())
                .unwrap_or_else(|| default_file.to_owned()),
            None,
        ),
    }
}

/// One call from compose text to findings; for tests and simple embedding. `name` is the
/// file name findings carry.
pub fn audit_str(
    name: &str,
    compose: &str,
    policy: Option<&str>,
    opts: &Options,
    occupied: &[Occupied],
) -> Result<Report> {
    let source = Source::File(name.into());
    // Read as Compose reads a file of that name: its includes and extends too.
    let input = crate::load::load_document(
        Path::new(name),
        compose,
        &crate::load::LoadOptions::default(),
    )?;
    let dir = std::env::temp_dir().join("netfence-no-such-dir");
    let mut project = Project::new(input, None, &dir)?;
    if let Some(text) = policy {
        let psource = Source::File("policy.yml".into());
        project.policy = crate::LoadedPolicy {
            policy: crate::Policy::from_text(&psource, text)?,
            source: psource,
        };
    }
    audit(
        &project,
        opts,
        &[SourceText::new(&source, compose)],
        occupied,
    )
}

/// Reads the compose files named on the command line (stdin at most once) and keeps their
/// text for line numbers; the loader itself reads stdin from the kept text.
pub fn read_inputs(
    paths: &[std::path::PathBuf],
) -> Result<(crate::load::ComposeInput, Vec<SourceText>)> {
    let mut texts = Vec::new();
    let mut stdin_text = String::new();
    for p in paths {
        if p == Path::new("-") {
            if texts
                .iter()
                .any(|t: &SourceText| t.name == Source::Stdin.to_string())
            {
                continue;
            }
            stdin_text = crate::load::read_bounded(&Source::Stdin, &mut std::io::stdin().lock())?;
            texts.push(SourceText::new(&Source::Stdin, stdin_text.clone()));
        } else {
            let source = Source::File(p.clone());
            let text = crate::load::read_file(p)?;
            texts.push(SourceText::new(&source, text));
        }
    }
    let input = crate::load::load(paths, &mut std::io::Cursor::new(stdin_text.into_bytes()))?;
    Ok((input, texts))
}
