//! Rule 7: the proxy. Public services — and no others — join the reverse
//! proxy's network and get the label that tells the proxy to route over it; a proxy label
//! that names a logical network key is corrected to the real name in every mode.

use crate::yaml::Mapping;

use crate::compose;
use crate::error::Result;
use crate::policy::{Policy, ProxyServices};
use crate::proxy_labels::{network_label, NETWORK_LABELS};

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
            _ => crate::proxy_labels::is_public(svc),
        },
    }
}

/// The proxy network's real name, when the policy has a proxy.
fn real_name(ctx: &Ctx<'_>, id: &Identity) -> Result<Option<String>> {
    let Some(proxy) = &ctx.policy().proxy else {
        return Ok(None);
    };
    let template = proxy
        .network
        .clone()
        .unwrap_or_else(|| crate::naming::PROXY_NETWORK_TEMPLATE.into());
    ctx.external_name(&template, &ctx.vars(id), "/proxy/network")
        .map(Some)
}

/// No service but a public one joins the proxy network, not even one whose file declares
/// it: every public service of every project is on it. A service left
/// with no network at all is on its project's default network, as Compose would put it.
pub(super) fn keep_private_off(
    ctx: &mut Ctx<'_>,
    id: &Identity,
    written: &Written<'_>,
    drafts: &mut [Draft<'_>],
) -> Result<()> {
    let Some(name) = real_name(ctx, id)? else {
        return Ok(());
    };
    let declared: Vec<&String> = written
        .networks
        .iter()
        .filter(|(k, decl)| compose::is_external(decl) && compose::external_name(k, decl) == name)
        .map(|(k, _)| k)
        .collect();
    for d in drafts.iter_mut().filter(|d| !d.public) {
        let before = d.attachments.len();
        d.attachments.retain(|a| !declared.contains(&&a.network));
        if d.attachments.len() == before {
            continue;
        }
        if d.attachments.is_empty() {
            d.attachments
                .push(super::Attachment::written(compose::DEFAULT_NETWORK, None));
        }
        ctx.change(
            format!("service {}", d.name),
            format!("leaves the proxy network `{name}`"),
            "not public: only services the proxy routes to join its network",
        );
    }
    Ok(())
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
    let Some(name) = real_name(ctx, id)? else {
        return Ok(None);
    };
    // The usual Traefik setup declares the proxy's network as external in the file.
    let key = persistent::adopt_or_add(
        networks,
        PROXY_KEY,
        &name,
        Role::Proxy,
        ctx.swarm(),
        id,
        &ctx.policy().labels,
    );
    join_public(ctx, drafts, &key, &name, joins);
    Ok(Some(name))
}

/// Public services join the proxy network (private ones are kept off it already, see
/// [`keep_private_off`]).
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
            let mut drafts = assignment::assign(ctx, &written).unwrap();
            keep_private_off(ctx, &id, &written, &mut drafts).unwrap();
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
    fn a_proxy_network_declared_external_is_that_key_and_only_public_services_stay_on_it() {
        let compose = "services:\n  web: {labels: [traefik.enable=true], networks: [edge]}\n  api: {networks: [edge]}\nnetworks:\n  edge: {external: true, name: traefik-public}";
        let p = proxied(&World::new(compose, "proxy: { network: traefik-public }"));
        let keys: Vec<(&str, Role)> = p
            .networks
            .iter()
            .map(|n| (n.key.as_str(), n.role))
            .collect();
        assert_eq!(keys, [("edge", Role::Proxy), ("default", Role::Managed)]);
        assert!(p.joins.is_empty(), "web is already on it");
        assert_eq!(p.changes[0], "leaves the proxy network `traefik-public`");
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
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

    #[test]
    fn a_private_service_that_declares_the_proxy_network_leaves_it() {
        let w = World::new(
            "services:\n  web: {labels: [traefik.enable=true], networks: [edge]}\n  db: {networks: [edge, back]}\n  cache: {networks: [edge]}\nnetworks:\n  edge: {external: true, name: nf-proxy}\n  back: {}\n",
            "proxy: {}",
        );
        let p = proxied(&w);
        let on_edge: Vec<&str> = w.run(|ctx| {
            let id = project::identify(ctx).unwrap();
            let written = written::read(ctx).unwrap();
            let mut drafts = assignment::assign(ctx, &written).unwrap();
            keep_private_off(ctx, &id, &written, &mut drafts).unwrap();
            drafts
                .iter()
                .map(|d| {
                    let keys: Vec<&str> =
                        d.attachments.iter().map(|a| a.network.as_str()).collect();
                    match (d.name.as_str(), keys.as_slice()) {
                        ("web", ["edge"]) => "web on edge",
                        ("db", ["back"]) => "db off edge",
                        ("cache", ["default"]) => "cache on default",
                        _ => "unexpected",
                    }
                })
                .collect()
        });
        assert_eq!(on_edge, ["web on edge", "db off edge", "cache on default"]);
        assert!(
            p.changes
                .iter()
                .any(|c| c == "leaves the proxy network `nf-proxy`"),
            "{:?}",
            p.changes
        );
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    }
}
