//! Rule 11: the project — the scope, the project name as Compose would choose
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
    let scope = ctx.scope.clone();
    let project = original_project(inputs, opts);
    let template = policy
        .naming
        .project
        .clone()
        .unwrap_or_else(|| naming::PROJECT_TEMPLATE.into());
    let vars = Vars::new(policy.prefix(), &scope, &project, ctx.template_environ());
    let project_name = naming::project_name(&ctx.render(&template, &vars, "/naming/project")?);

    let mut ownership = IndexMap::new();
    ownership.insert(labels::MANAGED.to_owned(), "true".to_owned());
    ownership.insert(labels::SCOPE.to_owned(), scope.to_string());
    ownership.insert(labels::PROJECT.to_owned(), project_name.clone());
    for (k, v) in &opts.bring_up_labels {
        ownership.entry(k.clone()).or_insert_with(|| v.clone());
    }
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

/// The project name the caller gives: `-p`, else `COMPOSE_PROJECT_NAME`. It outranks
/// anything the file says, its fencing record included.
pub(super) fn given_project(opts: &Options) -> Option<&str> {
    opts.project.as_deref().or_else(|| {
        opts.environ
            .get("COMPOSE_PROJECT_NAME")
            .map(String::as_str)
            .filter(|p| !p.is_empty())
    })
}

/// The project name as Compose would choose it, before scoping.
fn original_project(inputs: &Inputs<'_>, opts: &Options) -> String {
    if let Some(p) = given_project(opts) {
        return naming::project_name(p);
    }
    if let Some(r) = inputs.record {
        return r.project.clone();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;

    fn identity(w: &World) -> Identity {
        w.run(|ctx| identify(ctx)).unwrap()
    }

    #[test]
    fn the_scoped_project_name_joins_prefix_scope_and_project() {
        let id = identity(&World::new("services: {web: {}}", ""));
        assert_eq!(id.project, "shop");
        assert_eq!(id.project_name, "nf-r1-shop");
        assert_eq!(id.scope.to_string(), "run:r1");
    }

    #[test]
    fn without_p_the_name_key_then_the_directory_names_the_project() {
        let mut w = World::new("name: Billing\nservices: {web: {}}", "");
        w.opts.project = None;
        assert_eq!(identity(&w).project, "billing");

        let mut w = World::new("name: ${NAME}\nservices: {web: {}}", "");
        w.opts.project = None;
        assert_eq!(
            identity(&w).project,
            "checkout",
            "an uninterpolated name is unknown"
        );
    }

    #[test]
    fn compose_project_name_beats_the_name_key() {
        let mut w = World::new("name: billing\nservices: {web: {}}", "");
        w.opts.project = None;
        w.opts
            .environ
            .insert("COMPOSE_PROJECT_NAME".into(), "ledger".into());
        assert_eq!(identity(&w).project, "ledger");
    }

    #[test]
    fn a_bad_project_template_points_at_naming_project() {
        let w = World::new("services: {web: {}}", "naming: { project: \"{{ nope }}\" }");
        let e = w.run(|ctx| identify(ctx)).err().unwrap().to_string();
        assert!(e.contains("/naming/project"), "{e}");
    }

    #[test]
    fn policy_labels_come_first_and_cannot_override_ownership() {
        let w = World::new(
            "services: {web: {}}",
            "labels: { com.example.team: payments, io.netfence.scope: forged }",
        );
        let id = identity(&w);
        let keys: Vec<&str> = id.owned_labels.keys().map(String::as_str).collect();
        assert_eq!(keys[0], "com.example.team");
        assert_eq!(id.owned_labels[labels::SCOPE], "run:r1");
        assert_eq!(id.ownership[labels::PROJECT], "nf-r1-shop");
        assert_eq!(id.ownership[labels::MANAGED], "true");
    }
}
