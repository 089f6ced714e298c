//! Rule 7 (SPEC §3): the proxy. Public services — and no others — join the reverse
//! proxy's network and get the label that tells the proxy to route over it; a proxy label
//! that names a logical network key is corrected to the real name in every mode.

use serde_yaml_ng::Mapping;

use crate::compose;
use crate::error::Result;
use crate::policy::{Policy, ProxyServices};
use crate::proxy::{network_label, NETWORK_LABELS};

use super::assignment::Draft;
use super::ctx::Ctx;
use super::persistent::{self, Join};
use super::project::Identity;
use super::written::Written;
use super::{NetworkPlan, Role, PROXY_KEY};

/// Is the service routed by the proxy: the policy says so, or names the public services,
/// or (`services: auto`) its labels do.
pub(super) fn is_public(policy: &Policy, name: &str, svc: &Mapping) -> bool {
    match policy.services.get(name).and_then(|s| s.public) {
        Some(p) => p,
        None => match policy.proxy.as_ref().map(|p| &p.services) {
            Some(ProxyServices::List(l)) => l.iter().any(|s| s == name),
            _ => crate::proxy::is_public(svc),
        },
    }
}

/// Plans the proxy network, when the policy has one, and the public services' joins.
/// Returns its real name.
pub(super) fn network(
    ctx: &mut Ctx<'_>,
    id: &Identity,
    drafts: &[Draft<'_>],
    networks: &mut Vec<NetworkPlan>,
    joins: &mut Vec<Join>,
) -> Result<Option<String>> {
    let Some(proxy) = &ctx.policy().proxy else {
        return Ok(None);
    };
    let template = proxy
        .network
        .clone()
        .unwrap_or_else(|| "{{ prefix }}-proxy".into());
    let name = ctx.external_name(&template, &ctx.vars(id), "/proxy/network")?;
    let swarm = ctx.swarm();
    let labels = &ctx.policy().labels;
    // The usual Traefik setup declares the proxy's network as external in the file:
    // that key is then the proxy network, rather than a second key for one name.
    let declared = networks
        .iter()
        .position(|n| n.role == Role::External && n.name == name);
    let key = match declared {
        Some(i) => {
            let key = networks[i].key.clone();
            let mut p = persistent::network(&key, &name, Role::Proxy, swarm, id, labels);
            p.driver = networks[i].driver.clone().or(p.driver);
            networks[i] = p;
            key
        }
        None => {
            let p = persistent::network(PROXY_KEY, &name, Role::Proxy, swarm, id, labels);
            networks.push(p);
            PROXY_KEY.to_owned()
        }
    };
    join_public(ctx, drafts, &key, &name, joins);
    Ok(Some(name))
}

/// Public services join the proxy network; a private one already on it is named, since
/// every public service of other projects can reach it there.
fn join_public(
    ctx: &mut Ctx<'_>,
    drafts: &[Draft<'_>],
    key: &str,
    name: &str,
    joins: &mut Vec<Join>,
) {
    for d in drafts.iter().filter(|d| d.public) {
        if d.attachments.iter().any(|a| a.network == key) {
            continue;
        }
        joins.push(Join {
            service: d.name.clone(),
            network: key.to_owned(),
            aliases: Vec::new(),
        });
        ctx.change(
            format!("service {}", d.name),
            format!("joins the proxy network `{name}`"),
            "public: routed by the reverse proxy",
        );
    }
    for d in drafts.iter().filter(|d| !d.public) {
        if d.attachments.iter().any(|a| a.network == key) {
            ctx.warn(
                format!("service {}", d.name),
                format!(
                    "is on the proxy network `{name}` but not public: the proxy (and every public service of other projects) can reach it; remove it from `{key}` or mark it public"
                ),
            );
        }
    }
}

/// The proxy labels to set on a service: (label, real network name).
pub(super) fn labels(
    ctx: &mut Ctx<'_>,
    d: &Draft<'_>,
    proxy_name: Option<&str>,
    written: &Written<'_>,
    networks: &[NetworkPlan],
) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    if let (Some(name), Some(proxy)) = (proxy_name, &ctx.policy().proxy) {
        if d.public {
            let label = network_label(proxy.provider, ctx.swarm(), proxy.traefik_version);
            labels.push((label.to_owned(), name.to_owned()));
        }
    }
    // A proxy label naming a logical key is a silent misrouting bug: fix it.
    for (k, v) in compose::service_labels(d.svc) {
        if !NETWORK_LABELS.contains(&k.as_str()) || labels.iter().any(|(l, _)| *l == k) {
            continue;
        }
        if !written.networks.contains_key(&v) {
            continue;
        }
        let Some(real) = networks.iter().find(|n| n.key == v).map(|n| &n.name) else {
            continue;
        };
        if *real != v {
            labels.push((k.clone(), real.clone()));
            ctx.change(
                format!("service {}", d.name),
                format!("label {k}: `{v}` → `{real}`"),
                "the label names a logical network key; the proxy needs the real network name",
            );
        }
    }
    labels
}
