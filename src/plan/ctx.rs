//! What every stage of the plan shares: the inputs, the options, and the change list and
//! warnings that the plan reports in the order the stages record them.

use crate::error::{Error, Result};
use crate::naming::{self, Vars};
use crate::policy::Policy;
use crate::scope::Scope;

use super::project::Identity;
use super::{Change, Inputs, Options, Target, Warning};

pub(super) struct Ctx<'a> {
    pub inputs: &'a Inputs<'a>,
    pub opts: &'a Options,
    /// The scope the caller chose (`scope::choose`): every stage plans for this one.
    pub scope: &'a Scope,
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
    /// Escapes found while closing a tenant's document, judged with the rest.
    pub closing: Vec<crate::tenant::Escape>,
}

impl<'a> Ctx<'a> {
    pub fn new(inputs: &'a Inputs<'a>, opts: &'a Options, scope: &'a Scope) -> Self {
        Ctx {
            inputs,
            opts,
            scope,
            changes: Vec::new(),
            warnings: Vec::new(),
            closing: Vec::new(),
        }
    }

    pub fn policy(&self) -> &'a Policy {
        self.inputs.policy
    }

    /// Whether the file is a tenant's here (tenant mode, for the policy and the scope).
    pub fn tenant_mode(&self) -> bool {
        self.policy().tenant_mode(self.scope)
    }

    pub fn swarm(&self) -> bool {
        self.opts.target == Target::Swarm
    }

    pub fn change(
        &mut self,
        subject: impl Into<String>,
        change: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.changes.push(Change {
            subject: subject.into(),
            change: change.into(),
            reason: reason.into(),
        });
    }

    pub fn warn(&mut self, subject: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Warning {
            subject: subject.into(),
            message: message.into(),
        });
    }

    pub fn policy_err(&self, pointer: impl Into<String>, message: impl Into<String>) -> Error {
        Error::policy(self.inputs.policy_source, pointer, message)
    }

    pub fn compose_err(&self, message: impl Into<String>) -> Error {
        Error::compose(self.inputs.source, message)
    }

    /// The template variables of the plan's scope and project. They borrow the identity,
    /// not the context, so stages can record changes while holding them.
    pub fn vars<'v>(&self, id: &'v Identity) -> Vars<'v>
    where
        'a: 'v,
    {
        Vars::new(
            self.policy().prefix(),
            &id.scope,
            &id.project,
            self.template_environ(),
        )
    }

    /// The process environment as the policy's templates see it: empty for a policy
    /// embedded in the compose file, which must not read the platform's environment
    /// into names.
    pub fn template_environ(&self) -> &'a std::collections::BTreeMap<String, String> {
        static NONE: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
        match self.inputs.policy_source {
            crate::Source::Embedded(_) => &NONE,
            _ => &self.opts.environ,
        }
    }

    pub fn render(&self, template: &str, vars: &Vars<'_>, pointer: &str) -> Result<String> {
        naming::render(template, vars).map_err(|m| self.policy_err(pointer, m.to_string()))
    }

    /// Renders the name of a cross-scope network. A name a user chose for such a network
    /// must already be a valid Docker name: quietly changing it would break whatever else
    /// uses that name.
    pub fn external_name(&self, template: &str, vars: &Vars<'_>, pointer: &str) -> Result<String> {
        let raw = self.render(template, vars, pointer)?;
        let valid = raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if valid {
            Ok(raw)
        } else {
            Err(self.policy_err(
                pointer,
                format!("`{raw}` is not a name Docker accepts for a network: expected [a-zA-Z0-9][a-zA-Z0-9_.-]*"),
            ))
        }
    }
}

/// Names for a message: `` `a`, `b` ``, or `(none)`.
pub(super) fn list(items: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = items
        .into_iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

pub(super) fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_owned());
    }
}

/// Small worlds for the stages' tests: a compose file, a policy and options, planned
/// stage by stage.
#[cfg(test)]
pub(super) mod testing {
    use std::path::PathBuf;

    use crate::yaml::Value;

    use super::Ctx;
    use crate::error::Source;
    use crate::load::host::{HostView, Memory};
    use crate::load::ComposeInput;
    use crate::plan::{Inputs, Options, Target};
    use crate::policy::Policy;
    use crate::scope::Scope;

    pub struct World {
        pub doc: Value,
        pub policy: Policy,
        pub opts: Options,
        source: Source,
        policy_source: Source,
        dir: PathBuf,
        host: HostView,
    }

    impl World {
        /// A run-scoped world (`run:r1`, project `shop`); `policy` may be empty.
        pub fn new(compose: &str, policy: &str) -> World {
            let source = Source::File("compose.yml".into());
            let doc = ComposeInput::from_str(source.clone(), compose)
                .expect("test compose parses")
                .value;
            let policy_source = Source::File("policy.yml".into());
            let policy = if policy.trim().is_empty() {
                Policy::default()
            } else {
                Policy::from_text(&policy_source, policy).expect("test policy is valid")
            };
            World {
                doc,
                policy,
                opts: Options {
                    scope: Some(Scope::Run("r1".into())),
                    project: Some("shop".into()),
                    ..Options::default()
                },
                source,
                policy_source,
                dir: PathBuf::from("/nowhere/checkout"),
                host: HostView::default(),
            }
        }

        /// The project at `dir` on a host made up in memory, in place of the machine's.
        pub fn on_host(mut self, dir: &str, host: Memory) -> World {
            self.dir = PathBuf::from(dir);
            self.host = HostView::new(host);
            self
        }

        pub fn env(mut self, name: &str) -> World {
            self.opts.scope = Some(Scope::Env(name.into()));
            self
        }

        pub fn swarm(mut self) -> World {
            self.opts.target = Target::Swarm;
            self
        }

        /// Runs `f` with a fresh context over this world.
        pub fn run<T>(&self, f: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
            let inputs = Inputs {
                doc: &self.doc,
                record: None,
                source: &self.source,
                project_dir: &self.dir,
                policy: &self.policy,
                policy_source: &self.policy_source,
                references: &[],
                host: self.host.get(),
            };
            let scope = self.opts.scope.clone().expect("a test world has a scope");
            let mut ctx = Ctx::new(&inputs, &self.opts, &scope);
            f(&mut ctx)
        }
    }
}
