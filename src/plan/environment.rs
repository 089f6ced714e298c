//! Rule 9: the environment network. In env scope every fenced service also
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
        .unwrap_or_else(|| crate::naming::ENV_NETWORK_TEMPLATE.into());
    let name = ctx.external_name(&template, &ctx.vars(id), "/environment/network")?;
    let key = persistent::adopt_or_add(
        networks,
        ENV_KEY,
        &name,
        Role::Environment,
        ctx.swarm(),
        id,
        &policy.labels,
    );
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
            network: key.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;
    use crate::plan::{assignment, written};

    const COMPOSE: &str = "services: {api: {}, db: {}, cache: {}, vpn: {network_mode: host}}";

    fn env(w: &World) -> Result<(Vec<NetworkPlan>, Vec<Join>)> {
        w.run(|ctx| {
            let id = crate::plan::project::identify(ctx)?;
            let drafts = assignment::assign(ctx, &written::read(ctx)?)?;
            let (mut nets, mut joins) = (Vec::new(), Vec::new());
            network(ctx, &id, &drafts, &mut nets, &mut joins)?;
            Ok((nets, joins))
        })
    }

    #[test]
    fn a_run_has_no_environment_network() {
        let (nets, joins) = env(&World::new(COMPOSE, "")).unwrap();
        assert!(nets.is_empty() && joins.is_empty());
    }

    #[test]
    fn every_fenced_service_joins_as_service_dot_project() {
        let w = World::new(COMPOSE, "").env("staging");
        let (nets, joins) = env(&w).unwrap();
        assert_eq!(nets[0].name, "nf-env-staging");
        assert_eq!(nets[0].key, ENV_KEY);
        let joined: Vec<(&str, &str)> = joins
            .iter()
            .map(|j| (j.service.as_str(), j.aliases[0].as_str()))
            .collect();
        assert_eq!(
            joined,
            [
                ("api", "api.shop"),
                ("db", "db.shop"),
                ("cache", "cache.shop")
            ]
        );
    }

    #[test]
    fn the_policy_keeps_services_off_the_environment_network() {
        let w = World::new(
            COMPOSE,
            "environment: { exclude: [db] }\nservices: { cache: { environment: false } }",
        )
        .env("staging");
        let (_, joins) = env(&w).unwrap();
        let joined: Vec<&str> = joins.iter().map(|j| j.service.as_str()).collect();
        assert_eq!(joined, ["api"]);
    }
}
