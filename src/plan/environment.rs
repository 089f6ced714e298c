//! Rule 9 (SPEC §3): the environment network. In env scope every fenced service also
//! joins its environment's network, aliased `<service>.<project>`, so resources of one
//! environment reach each other and nothing else.

use crate::error::Result;
use crate::scope::Scope;

use super::assignment::Draft;
use super::ctx::Ctx;
use super::persistent::{self, Join};
use super::project::Identity;
use super::{NetworkPlan, Role, ENV_KEY};

pub(super) fn network(
    ctx: &mut Ctx<'_>,
    id: &Identity,
    drafts: &[Draft<'_>],
    networks: &mut Vec<NetworkPlan>,
    joins: &mut Vec<Join>,
) -> Result<()> {
    if !matches!(id.scope, Scope::Env(_)) {
        return Ok(());
    }
    let policy = ctx.policy();
    let env = &policy.environment;
    let template = env
        .network
        .clone()
        .unwrap_or_else(|| "{{ prefix }}-env-{{ env }}".into());
    let name = ctx.external_name(&template, &ctx.vars(id), "/environment/network")?;
    networks.push(persistent::network(
        ENV_KEY,
        &name,
        Role::Environment,
        ctx.swarm(),
        id,
        &policy.labels,
    ));
    let alias_template = env
        .alias
        .clone()
        .unwrap_or_else(|| "{{ service }}.{{ project }}".into());
    for d in drafts {
        // The policy can keep a service off the shared network (its bare name would be
        // ambiguous there, see ambiguity.rs).
        let excluded = env.exclude.contains(&d.name)
            || policy.services.get(&d.name).and_then(|s| s.environment) == Some(false);
        if d.network_mode.is_some() || excluded {
            continue;
        }
        let vars = ctx.vars(id);
        let alias = ctx.render(
            &alias_template,
            &vars.service(&d.name),
            "/environment/alias",
        )?;
        joins.push(Join {
            service: d.name.clone(),
            network: ENV_KEY.to_owned(),
            aliases: vec![alias],
        });
    }
    ctx.change(
        "environment",
        format!("every service joins `{name}` as <service>.{}", id.project),
        "resources of one environment reach each other and nothing else",
    );
    Ok(())
}
