//! Rule 8: shared networks. The policy names cross-scope networks (external,
//! created when missing) and which services join them, with which aliases.

use crate::error::Result;
use crate::policy::escape_pointer;

use super::assignment::Draft;
use super::ctx::Ctx;
use super::persistent::{self, Join};
use super::project::Identity;
use super::{NetworkPlan, Role, SHARED_KEY_PREFIX};

pub(super) fn networks(
    ctx: &mut Ctx<'_>,
    id: &Identity,
    drafts: &[Draft<'_>],
    networks: &mut Vec<NetworkPlan>,
    joins: &mut Vec<Join>,
) -> Result<()> {
    let policy = ctx.policy();
    for (k, sh) in &policy.shared {
        let pointer = format!("/shared/{}/name", escape_pointer(k));
        let name = ctx.external_name(&sh.name, &ctx.vars(id).network(k), &pointer)?;
        let key = persistent::adopt_or_add(
            networks,
            &format!("{SHARED_KEY_PREFIX}{k}"),
            &name,
            Role::Shared,
            ctx.swarm(),
            id,
            &policy.labels,
        );
        for (svc, aliases) in sh.services.members() {
            if drafts
                .iter()
                .any(|d| d.name == svc && d.network_mode.is_some())
            {
                return Err(ctx.policy_err(
                    pointer.replace("/name", "/services"),
                    format!("service `{svc}` has `network_mode`, so it cannot join networks"),
                ));
            }
            ctx.change(
                format!("service {svc}"),
                format!("joins shared network `{name}`"),
                "policy shared",
            );
            joins.push(Join {
                service: svc,
                network: key.clone(),
                aliases,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;
    use crate::plan::{assignment, written};

    const COMPOSE: &str = "services: {api: {}, metrics: {}, vpn: {network_mode: host}}";

    fn shared(policy: &str) -> Result<(Vec<NetworkPlan>, Vec<Join>, Vec<String>)> {
        let w = World::new(COMPOSE, policy);
        w.run(|ctx| {
            let id = crate::plan::project::identify(ctx)?;
            let drafts = assignment::assign(ctx, &written::read(ctx)?)?;
            let (mut nets, mut joins) = (Vec::new(), Vec::new());
            networks(ctx, &id, &drafts, &mut nets, &mut joins)?;
            let changes = ctx.changes.iter().map(|c| c.change.clone()).collect();
            Ok((nets, joins, changes))
        })
    }

    #[test]
    fn members_join_with_their_aliases_under_a_reserved_key() {
        let (nets, joins, changes) = shared(
            "shared:\n  infra: { name: \"{{ prefix }}-shared-{{ network }}\", services: { metrics: [shop-metrics] } }",
        )
        .unwrap();
        assert_eq!(nets[0].key, "netfence-shared-infra");
        assert_eq!(nets[0].name, "nf-shared-infra");
        assert_eq!(nets[0].role, Role::Shared);
        assert_eq!(joins.len(), 1);
        assert_eq!(joins[0].service, "metrics");
        assert_eq!(joins[0].aliases, ["shop-metrics"]);
        assert_eq!(changes, ["joins shared network `nf-shared-infra`"]);
    }

    #[test]
    fn a_shared_name_docker_would_refuse_is_an_error_not_a_silent_rename() {
        let e = shared("shared: { infra: { name: \"-infra net\", services: [api] } }")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("/shared/infra/name"), "{e}");
        assert!(e.contains("not a name Docker accepts"), "{e}");
    }

    #[test]
    fn a_network_mode_service_cannot_join() {
        let e = shared("shared: { infra: { name: infra, services: [api, vpn] } }")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("/shared/infra/services"), "{e}");
        assert!(e.contains("service `vpn` has `network_mode`"), "{e}");
    }
}
