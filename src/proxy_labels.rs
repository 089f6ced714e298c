//! Reverse-proxy conventions: which services are public, and the label that tells the
//! proxy which network to reach a container over.

use crate::yaml::Mapping;

use crate::policy::{ProxyProvider, TraefikVersion};

pub const TRAEFIK_DOCKER_NETWORK: &str = "traefik.docker.network";
pub const TRAEFIK_SWARM_NETWORK: &str = "traefik.swarm.network";
pub const CADDY_INGRESS_NETWORK: &str = "caddy_ingress_network";

/// Every label that names a proxy's network.
pub const NETWORK_LABELS: &[&str] = &[
    TRAEFIK_DOCKER_NETWORK,
    TRAEFIK_SWARM_NETWORK,
    CADDY_INGRESS_NETWORK,
];

/// Is the service routed by a proxy: `traefik.enable=true`, or caddy-docker-proxy's
/// `caddy` / `caddy.*` / `caddy_N` labels (in `labels` or `deploy.labels`)?
pub fn is_public(svc: &Mapping) -> bool {
    crate::compose::service_labels(svc).iter().any(|(k, v)| {
        (k == "traefik.enable" && v.eq_ignore_ascii_case("true")) || is_caddy_label(k)
    })
}

pub fn uses_traefik(svc: &Mapping) -> bool {
    crate::compose::service_labels(svc)
        .iter()
        .any(|(k, _)| k.starts_with("traefik."))
}

/// The kinds of Traefik object a label defines by name: `traefik.<proto>.<kind>.<name>.…`.
const TRAEFIK_NAMED: &[&str] = &["routers", "services", "middlewares", "serverstransports"];

/// Where the name a Traefik label defines sits in the label (`traefik.http.routers.web.rule`
/// defines router `web`, the fourth part), if it defines one. Traefik reads the parts below
/// `traefik.` without regard to case.
pub fn traefik_defined_name(key: &str) -> Option<usize> {
    let parts: Vec<&str> = key.split('.').collect();
    let kind = parts.get(2)?.to_ascii_lowercase();
    (parts.len() > 4 && parts[0] == "traefik" && TRAEFIK_NAMED.contains(&kind.as_str()))
        .then_some(3)
}

/// Whether a Traefik label's value names other objects (comma-separated): a router's or
/// an error page's `service`, `middlewares`, a `serverstransport`, a mirror's `name`.
pub fn traefik_refers(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let last = key.rsplit('.').next().unwrap_or_default();
    key.starts_with("traefik.")
        && (matches!(last, "service" | "middlewares" | "serverstransport")
            || (last == "name" && key.contains(".mirrors")))
}

/// Labels a proxy reads from the container (Compose) or the service (Swarm).
pub fn is_proxy_label(k: &str) -> bool {
    k.starts_with("traefik.") || is_caddy_label(k) || k == CADDY_INGRESS_NETWORK
}

fn is_caddy_label(k: &str) -> bool {
    if k == "caddy" || k.starts_with("caddy.") {
        return true;
    }
    match k.strip_prefix("caddy_") {
        Some(rest) => {
            let head = rest.split('.').next().unwrap_or_default();
            !head.is_empty() && head.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// The label a provider reads for the network, for the given target.
pub fn network_label(
    provider: ProxyProvider,
    swarm: bool,
    version: TraefikVersion,
) -> &'static str {
    match (provider, swarm, version) {
        (ProxyProvider::Caddy, _, _) => CADDY_INGRESS_NETWORK,
        (ProxyProvider::Traefik, true, TraefikVersion::V3) => TRAEFIK_SWARM_NETWORK,
        (ProxyProvider::Traefik, _, _) => TRAEFIK_DOCKER_NETWORK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(s: &str) -> Mapping {
        crate::yaml::from_str(s)
            .unwrap()
            .as_mapping()
            .cloned()
            .unwrap()
    }

    #[test]
    fn public_detection_covers_forms() {
        assert!(is_public(&svc("labels: [traefik.enable=true]")));
        assert!(is_public(&svc("labels: {traefik.enable: 'true'}")));
        assert!(is_public(&svc("labels: {traefik.enable: true}")));
        assert!(is_public(&svc("deploy: {labels: [traefik.enable=true]}")));
        assert!(is_public(&svc("labels: {caddy: example.com}")));
        assert!(is_public(&svc(
            "labels: {caddy_0.reverse_proxy: '{{upstreams 80}}'}"
        )));
        assert!(!is_public(&svc("labels: [traefik.enable=false]")));
        assert!(!is_public(&svc("labels: {caddy_ingress_network: x}")));
        assert!(!is_public(&svc("image: x")));
    }
}
