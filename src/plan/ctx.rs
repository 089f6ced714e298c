//! What every stage of the plan shares: the inputs, the options, and the change list and
//! warnings that the plan reports in the order the stages record them.

use crate::error::{Error, Result};
use crate::naming::{self, Vars};
use crate::policy::Policy;

use super::project::Identity;
use super::{Change, Inputs, Options, Target, Warning};

pub(super) struct Ctx<'a> {
    pub inputs: &'a Inputs<'a>,
    pub opts: &'a Options,
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
}

impl<'a> Ctx<'a> {
    pub fn new(inputs: &'a Inputs<'a>, opts: &'a Options) -> Self {
        Ctx {
            inputs,
            opts,
            changes: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub fn policy(&self) -> &'a Policy {
        self.inputs.policy
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
            &self.opts.environ,
        )
    }

    pub fn render(&self, template: &str, vars: &Vars<'_>, pointer: &str) -> Result<String> {
        naming::render(template, vars).map_err(|m| self.policy_err(pointer, m))
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
