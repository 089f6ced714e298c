//! Rule 13: one name, one project. Compose registers every service's bare name
//! on every network it joins, the environment's, the proxy's and shared ones included
//! (docker/compose#8223), so two projects with a `db` both hold `db` there. A container
//! asks its networks for a name one after another and takes the first that holds it; the
//! engine orders them by endpoint priority first (engines since 28: Compose's
//! `gw_priority`), then by internal flag and network name. Every attachment to a network
//! other projects share is therefore put below the service's own networks: a bare name
//! the project holds answers from the project, whatever the names sort to.
//!
//! Engines before 28 take no priority from the API and order by name alone (internal
//! networks last); there the plan cannot make it hold, and [`unordered`] says where.

use super::ctx::Ctx;
use super::{Attachment, NetworkPlan, Role, ServicePlan};

/// How far below the lowest own network a shared one goes.
const BELOW: i64 = 1;

pub(super) fn apply(ctx: &mut Ctx<'_>, networks: &[NetworkPlan], services: &mut [ServicePlan]) {
    // `docker stack deploy` reads the version 3 format, which has no such key.
    if ctx.swarm() {
        return;
    }
    for s in services.iter_mut().filter(|s| s.fenced) {
        let lowered = lower_shared(networks, &mut s.attachments);
        if lowered.is_empty() {
            continue;
        }
        s.rewrite_networks = true;
        ctx.change(
            format!("service {}", s.name),
            format!("gw_priority below its own networks on {}", lowered.join(", ")),
            "its bare name and its project's answer from its own networks first, never from another project's service on a shared network",
        );
    }
}

/// Sets each shared attachment below the lowest own one; returns the networks changed.
fn lower_shared(networks: &[NetworkPlan], attachments: &mut [Attachment]) -> Vec<String> {
    let own = |a: &Attachment| role(networks, &a.network) == Some(Role::Managed);
    let Some(floor) = attachments
        .iter()
        .filter(|a| own(a))
        .map(|a| a.gw_priority.unwrap_or(0))
        .min()
    else {
        return Vec::new();
    };
    let target = floor.saturating_sub(BELOW);
    let mut lowered = Vec::new();
    for a in attachments.iter_mut().filter(|a| !own(a)) {
        if a.gw_priority.is_none_or(|p| p > target) {
            a.gw_priority = Some(target);
            lowered.push(format!("`{}`", a.network));
        }
    }
    lowered
}

fn role(networks: &[NetworkPlan], key: &str) -> Option<Role> {
    networks.iter().find(|n| n.key == key).map(|n| n.role)
}

/// Where an engine that takes no priorities (before 28) may ask a shared network before
/// one of the service's own: (service, shared network, own network), real names.
///
/// Such an engine keeps a container's networks in a binary heap ordered by internal flag
/// (internal last) and name, and asks them in the heap's array order: only the first is
/// sure to come first; the others follow in an order that depends on which network the
/// container joined first, which the engine takes from a map. Two internal networks do
/// not compare at all. So an own network is surely asked before a shared one only when it
/// is the one least of all the container's networks.
pub fn unordered<'a>(
    networks: &'a [NetworkPlan],
    services: &'a [ServicePlan],
) -> Vec<(&'a str, &'a str, &'a str)> {
    let by_key = |k: &str| networks.iter().find(|n| n.key == k);
    let mut out = Vec::new();
    for s in services.iter().filter(|s| s.fenced) {
        let nets: Vec<&NetworkPlan> = s
            .attachments
            .iter()
            .filter_map(|a| by_key(&a.network))
            .collect();
        let first = surely_first(&nets);
        let own = nets.iter().filter(|n| n.role == Role::Managed);
        let shared = nets.iter().filter(|n| n.role != Role::Managed);
        for sh in shared {
            if let Some(o) = own.clone().find(|o| first != Some(o.key.as_str())) {
                out.push((s.name.as_str(), sh.name.as_str(), o.name.as_str()));
            }
        }
    }
    out
}

/// The network such an engine surely asks first: the least by (internal, name), when no
/// other ties with it.
fn surely_first<'a>(nets: &[&'a NetworkPlan]) -> Option<&'a str> {
    let least = nets
        .iter()
        .min_by(|a, b| (a.internal, &a.name).cmp(&(b.internal, &b.name)))?;
    let tied = least.internal && nets.iter().filter(|n| n.internal).count() > 1;
    (!tied).then_some(least.key.as_str())
}
