//! Rule 11 (SPEC §3): the project — the scope, the project name as Compose would choose
//! it, the scoped name Compose runs the stack under, and the ownership labels that let
//! `down`, `gc` and `verify` find a scope's objects from the engine alone.

use indexmap::IndexMap;

use crate::error::Result;
use crate::labels;
use crate::naming::{self, Vars};
use crate::scope::Scope;
use crate::yaml::scalar_string;

use super::ctx::Ctx;
use super::{Inputs, Options};

pub(super) struct Identity {
    pub scope: Scope,
    /// The project name before scoping.
    pub project: String,
    /// The scoped project name.
    pub project_name: String,
    pub ownership: IndexMap<String, String>,
    /// The policy's labels, then the ownership labels: what every fenced network, service
    /// and volume carries.
    pub owned_labels: IndexMap<String, String>,
    /// The top-level `name:` the input had before any fencing, for the record.
    pub original_top_name: Option<String>,
}

pub(super) fn identify(ctx: &Ctx<'_>) -> Result<Identity> {
    let (inputs, opts, policy) = (ctx.inputs, ctx.opts, ctx.policy());
    // An already fenced file keeps its scope unless the caller names another.
    let scope = opts
        .scope
        .clone()
        .or_else(|| inputs.record.and_then(|r| Scope::parse(&r.scope)))
        .unwrap_or_else(Scope::random_run);
    let project = original_project(inputs, opts);
    let template = policy
        .naming
        .project
        .clone()
        .unwrap_or_else(|| "{{ prefix }}-{{ scope_id }}-{{ project }}".into());
    let vars = Vars::new(policy.prefix(), &scope, &project, &opts.environ);
    let project_name = naming::project_name(&ctx.render(&template, &vars, "/naming/project")?);

    let mut ownership = IndexMap::new();
    ownership.insert(labels::MANAGED.to_owned(), "true".to_owned());
    ownership.insert(labels::SCOPE.to_owned(), scope.to_string());
    ownership.insert(labels::PROJECT.to_owned(), project_name.clone());
    // Labels the user can see as theirs first, netfence's own last (see rewrite.rs); a
    // policy label of the same name never weakens ownership.
    let mut owned_labels = policy.labels.clone();
    for (k, v) in &ownership {
        owned_labels.insert(k.clone(), v.clone());
    }
    let original_top_name = inputs.record.map_or_else(
        || inputs.doc.get("name").and_then(scalar_string),
        |r| r.name.clone(),
    );
    Ok(Identity {
        scope,
        project,
        project_name,
        ownership,
        owned_labels,
        original_top_name,
    })
}

/// The project name as Compose would choose it, before scoping.
fn original_project(inputs: &Inputs<'_>, opts: &Options) -> String {
    if let Some(p) = &opts.project {
        return naming::project_name(p);
    }
    if let Some(r) = inputs.record {
        return r.project.clone();
    }
    if let Some(p) = opts
        .environ
        .get("COMPOSE_PROJECT_NAME")
        .filter(|p| !p.is_empty())
    {
        return naming::project_name(p);
    }
    if let Some(n) = inputs.doc.get("name").and_then(scalar_string) {
        // Compose would interpolate it; netfence never does, so it cannot know the name.
        if !n.contains('$') {
            return naming::project_name(&n);
        }
    }
    let dir = inputs
        .project_dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    naming::project_name(&dir)
}
