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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;
    use crate::plan::{assignment, networks, project, written};

    const COMPOSE: &str = "services:\n  web: {labels: [traefik.enable=true]}\n  api: {labels: {traefik.enable: 'false'}}\n  worker: {}";

    #[derive(Debug)]
    struct Proxied {
        networks: Vec<NetworkPlan>,
        /// (service, network key) for each join.
        joins: Vec<(String, String)>,
        /// Per service, the proxy labels to set.
        labels: Vec<Vec<(String, String)>>,
        public: Vec<bool>,
        changes: Vec<String>,
        warnings: Vec<String>,
    }

    fn proxied(w: &World) -> Proxied {
        w.run(|ctx| {
            let id = project::identify(ctx).unwrap();
            let written = written::read(ctx).unwrap();
            let drafts = assignment::assign(ctx, &written).unwrap();
            let mut nets = networks::plan(ctx, &id, &written, &drafts).unwrap();
            let mut joins = Vec::new();
            let name = network(ctx, &id, &drafts, &mut nets, &mut joins).unwrap();
            let labels = drafts
                .iter()
                .map(|d| labels(ctx, d, name.as_deref(), &written, &nets))
                .collect();
            Proxied {
                joins: joins.into_iter().map(|j| (j.service, j.network)).collect(),
                labels,
                public: drafts.iter().map(|d| d.public).collect(),
                networks: nets,
                changes: ctx.changes.iter().map(|c| c.change.clone()).collect(),
                warnings: ctx.warnings.iter().map(|w| w.message.clone()).collect(),
            }
        })
    }

    fn pair(label: &str, value: &str) -> Vec<(String, String)> {
        vec![(label.to_owned(), value.to_owned())]
    }

    #[test]
    fn only_public_services_join_the_proxy_and_get_its_label() {
        let p = proxied(&World::new(COMPOSE, "proxy: {}"));
        assert_eq!(p.public, [true, false, false]);
        assert_eq!(p.joins, [("web".to_owned(), PROXY_KEY.to_owned())]);
        let proxy = p.networks.iter().find(|n| n.key == PROXY_KEY).unwrap();
        assert_eq!((proxy.name.as_str(), proxy.role), ("nf-proxy", Role::Proxy));
        assert_eq!(p.labels[0], pair("traefik.docker.network", "nf-proxy"));
        assert!(p.labels[1].is_empty() && p.labels[2].is_empty());
        assert!(p
            .changes
            .contains(&"joins the proxy network `nf-proxy`".to_owned()));
    }

    #[test]
    fn without_a_proxy_in_the_policy_nobody_joins() {
        let p = proxied(&World::new(COMPOSE, ""));
        assert!(p.joins.is_empty());
        assert!(p.labels.iter().all(Vec::is_empty));
        assert!(p.networks.iter().all(|n| n.role != Role::Proxy));
    }

    #[test]
    fn the_policy_can_name_the_public_services() {
        let p = proxied(&World::new(
            COMPOSE,
            "proxy: { services: [api] }\nservices: { worker: { public: true } }",
        ));
        assert_eq!(p.public, [false, true, true]);
    }

    #[test]
    fn a_proxy_network_declared_external_is_that_key_and_private_services_on_it_are_named() {
        let compose = "services:\n  web: {labels: [traefik.enable=true], networks: [edge]}\n  api: {networks: [edge]}\nnetworks:\n  edge: {external: true, name: traefik-public}";
        let p = proxied(&World::new(compose, "proxy: { network: traefik-public }"));
        assert_eq!(p.networks.len(), 1, "{:?}", p.networks);
        assert_eq!(p.networks[0].key, "edge");
        assert_eq!(p.networks[0].role, Role::Proxy);
        assert!(p.joins.is_empty(), "web is already on it");
        assert_eq!(p.warnings.len(), 1);
        assert!(
            p.warnings[0].starts_with("is on the proxy network `traefik-public` but not public")
        );
    }

    #[test]
    fn the_label_follows_the_provider_and_target() {
        let p = proxied(&World::new(
            COMPOSE,
            "proxy: { network: caddy, provider: caddy }",
        ));
        assert_eq!(p.labels[0], pair("caddy_ingress_network", "caddy"));
        let p = proxied(&World::new(COMPOSE, "proxy: { traefik_version: v3 }").swarm());
        assert_eq!(p.labels[0], pair("traefik.swarm.network", "nf-proxy"));
        let p = proxied(&World::new(COMPOSE, "proxy: { traefik_version: v2 }").swarm());
        assert_eq!(p.labels[0], pair("traefik.docker.network", "nf-proxy"));
    }

    #[test]
    fn a_label_naming_a_logical_key_gets_the_real_name_in_every_mode() {
        let compose = "services:\n  web:\n    labels: {traefik.docker.network: front}\n    networks: [front]\n  api:\n    labels: {traefik.docker.network: elsewhere}\nnetworks: {front: {}}";
        let p = proxied(&World::new(compose, ""));
        assert_eq!(p.labels[0], pair("traefik.docker.network", "nf-r1-front"));
        assert!(p.labels[1].is_empty(), "not a key of the file");
        assert_eq!(
            p.changes.last().unwrap(),
            "label traefik.docker.network: `front` → `nf-r1-front`"
        );
    }
}
