//! Rule 8 (SPEC §3): shared networks. The policy names cross-scope networks (external,
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
        let key = format!("{SHARED_KEY_PREFIX}{k}");
        networks.push(persistent::network(
            &key,
            &name,
            Role::Shared,
            ctx.swarm(),
            id,
            &policy.labels,
        ));
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
