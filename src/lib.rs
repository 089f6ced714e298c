//! netfence gives every Docker Compose stack its own fenced-off networks.
//!
//! The core is pure: [`load`] reads compose files, [`policy`] finds and validates the
//! policy, [`plan()`](plan::plan) turns both plus a [`Scope`] into a [`Plan`], and
//! [`rewrite::apply`] writes the plan into the YAML. Engine-facing code lives in
//! `engine` and works from the same plan.

pub mod audit;
pub mod avoid;
pub mod checkout;
pub mod compose;
pub mod engine;
pub mod error;
pub mod graph;
pub mod input;
pub mod labels;
pub mod load;
pub mod merge;
pub mod naming;
pub mod overlay;
pub mod plan;
pub mod policy;
pub mod port_spec;
pub mod profiles;
pub mod proxy_labels;
pub mod render;
pub mod rewrite;
pub mod routes;
pub mod sarif;
pub mod scope;
pub mod subnet_pool;
pub mod tenant;
pub mod unfence;
pub mod yaml;

use std::path::Path;

use crate::yaml::Value;
pub use error::{Error, ErrorKind, Result, Source};
pub use plan::{Options, Plan, Target};
pub use policy::{LoadedPolicy, Policy};
pub use scope::Scope;

/// Compose input with its policy found, ready to plan.
#[derive(Debug, Clone)]
pub struct Project {
    /// The input as loaded. Its `value` is kept only when the input was already fenced
    /// (see [`Project::original`]); otherwise it was moved into `unfenced`.
    pub input: load::ComposeInput,
    /// The input with any earlier fencing undone.
    pub unfenced: Value,
    pub record: Option<unfence::Record>,
    pub policy: LoadedPolicy,
    /// What the user should know about how the input was read (printed as warnings).
    pub notes: Vec<String>,
}

impl Project {
    /// Finds the policy for loaded compose input.
    pub fn new(
        input: load::ComposeInput,
        explicit_policy: Option<&Path>,
        working_dir: &Path,
    ) -> Result<Project> {
        Self::for_scope(input, explicit_policy, working_dir, None)
    }

    /// [`Project::new`] for input fenced into `scope` (else the scope its record names):
    /// in tenant mode the platform's policy outranks one embedded in the file.
    pub fn for_scope(
        input: load::ComposeInput,
        explicit_policy: Option<&Path>,
        working_dir: &Path,
        scope: Option<&Scope>,
    ) -> Result<Project> {
        let first = input.first_source().clone();
        let embedded_path = match &first {
            Source::File(p) => p.clone(),
            _ => "<stdin>".into(),
        };
        let embedded = input.value.get("x-netfence");
        let recorded = unfence::record(&input.value).and_then(|r| Scope::parse(&r.scope));
        let (policy, note) = policy::discover(policy::Discovery {
            explicit: explicit_policy,
            embedded: embedded.map(|v| (embedded_path.as_path(), v)),
            working_dir: working_dir.to_path_buf(),
            scope: scope.or(recorded.as_ref()),
        })?;
        let mut input = input;
        let notes = std::mem::take(&mut input.notes)
            .into_iter()
            .chain(note)
            .collect();
        // Unfencing needs the original kept (for `--check`); plain input is moved, not
        // copied: large files are planned from one tree.
        let (unfenced, record) = if unfence::record(&input.value).is_some() {
            unfence::unfence(input.value.clone())
        } else {
            (std::mem::take(&mut input.value), None)
        };
        Ok(Project {
            input,
            unfenced,
            record,
            policy,
            notes,
        })
    }

    /// The scope this project is fenced into: `given`, else the one its record names,
    /// else `fresh()` ([`scope::choose`]).
    pub fn choose_scope(
        &self,
        given: Option<Scope>,
        fresh: impl FnOnce() -> Scope,
    ) -> scope::Chosen {
        let recorded = self.record.as_ref().and_then(|r| Scope::parse(&r.scope));
        scope::choose(given, recorded, fresh)
    }

    /// The plan for `opts`; without a scope in `opts`, for the one [`Project::choose_scope`]
    /// chooses (the command line chooses it itself, to tell the user a new run's id).
    pub fn plan(&self, opts: &Options) -> Result<Plan> {
        let chosen;
        let opts = match opts.scope {
            Some(_) => opts,
            None => {
                chosen = Options {
                    scope: Some(self.choose_scope(None, Scope::random_run).into_scope()),
                    ..opts.clone()
                };
                &chosen
            }
        };
        plan::plan(
            &plan::Inputs {
                doc: &self.unfenced,
                record: self.record.as_ref(),
                source: self.input.first_source(),
                project_dir: &self.input.project_dir,
                policy: &self.policy.policy,
                policy_source: &self.policy.source,
                references: &self.input.references,
                host: self.input.host.get(),
            },
            opts,
        )
    }

    /// The compose document as it was read (before any unfencing).
    pub fn original(&self) -> &Value {
        if self.record.is_some() {
            &self.input.value
        } else {
            &self.unfenced
        }
    }

    /// The fenced document for a plan made from this project.
    pub fn rewrite(&self, plan: &Plan) -> Value {
        rewrite::apply(plan, &self.unfenced)
    }

    /// The fence for a plan made from this project as a Compose override file, to give
    /// after the files it was read from (see [`overlay`]).
    pub fn overlay(&self, plan: &Plan) -> Result<Value> {
        if plan.closed.is_some() {
            // An override file leaves the tenant's `${VAR}`, tags and relative paths for
            // Compose to read at deploy: what runs would not be what was judged.
            return Err(Error::compose(
                self.input.first_source(),
                "tenant mode writes a closed file, and an overlay cannot close the files it is given with: use the full rewrite (without --overlay)",
            ));
        }
        self.overlay_of(&self.rewrite(plan))
    }

    /// The override file that makes the input read as `fenced`, a rewrite of it (with
    /// whatever a caller added, such as `run`'s owner labels).
    pub fn overlay_of(&self, fenced: &Value) -> Result<Value> {
        overlay::make(self.original(), fenced, self.input.first_source())
    }

    /// [`Project::rewrite`] consuming the project: no copy of the tree.
    pub fn into_rewrite(self, plan: &Plan) -> Value {
        rewrite::apply_owned(plan, self.unfenced)
    }
}

/// One call from compose text to fenced YAML text; for tests and simple embedding.
pub fn fence_str(compose: &str, policy: Option<&str>, opts: &Options) -> Result<(Plan, String)> {
    let input = load::ComposeInput::from_str(Source::File("compose.yml".into()), compose)?;
    let dir = std::env::temp_dir();
    let mut project = Project::new(input, None, &dir.join("netfence-no-such-dir"))?;
    if let Some(text) = policy {
        let source = Source::File("policy.yml".into());
        project.policy = LoadedPolicy {
            policy: Policy::from_text(&source, text)?,
            source,
        };
    }
    let plan = project.plan(opts)?;
    let out = yaml::to_string(&project.rewrite(&plan));
    Ok((plan, out))
}
