//! The proxy's routes, as a tenant's labels set them. Traefik reads a container's
//! labels (its image's too) as configuration of the one proxy every project shares: a
//! router may send traffic to a service another container defines (`name@docker`, or a
//! bare name it qualifies with its own provider), to the proxy's own API
//! (`api@internal`), or a service may forward to any address (`server.url`), and a
//! forward-auth middleware call one. Only services this container's own labels define
//! are free. Traefik matches label names without regard to case below `traefik.`.

use super::{Escape, Kind, Part};
use crate::yaml::Value;

/// Judges the labels of one service (`holders`: each place labels are written).
pub(super) fn check(subject: &str, holders: &[(Vec<Part>, Option<&Value>)], out: &mut Vec<Escape>) {
    let labels: Vec<(&[Part], String, String)> = holders
        .iter()
        .flat_map(|(at, labels)| {
            crate::labels::entries(*labels)
                .into_iter()
                .filter(|(k, _)| k.starts_with("traefik."))
                .map(move |(k, v)| (at.as_slice(), k.to_ascii_lowercase(), v))
        })
        .collect();
    let defined: Vec<String> = labels
        .iter()
        .filter_map(|(_, k, _)| defined_service(k))
        .collect();
    for (at, key, value) in &labels {
        let Some(why) = reaches_elsewhere(key, value, &defined) else {
            continue;
        };
        out.push(Escape::new(
            Kind::ProxyRoute,
            subject,
            at.to_vec(),
            format!("label `{key}={value}` {why}"),
            Some(value.clone()),
        ));
    }
}

/// `traefik.<proto>.services.<name>.…` defines `<name>`.
fn defined_service(key: &str) -> Option<String> {
    let parts: Vec<&str> = key.split('.').collect();
    (parts.len() > 4 && parts[2] == "services").then(|| parts[3].to_owned())
}

/// Why the label sends the proxy somewhere else than this container, if it does.
fn reaches_elsewhere(key: &str, value: &str, defined: &[String]) -> Option<&'static str> {
    let last = key.rsplit('.').next().unwrap_or(key);
    let names_service = last == "service"
        || (last == "name" && (key.contains(".mirrors") || key.contains(".weighted.")));
    if names_service {
        let own = !value.contains('@') && defined.iter().any(|d| d.eq_ignore_ascii_case(value));
        return (!own).then_some(
            "routes to a service this container's labels do not define: another project's container (`@docker`, or a bare name Traefik reads as one), or the proxy's own API and dashboard (`@internal`)",
        );
    }
    // HTTP servers by `url`, TCP and UDP ones by `address`.
    let forwards = (key.contains(".services.") && matches!(last, "url" | "address"))
        || (key.contains(".forwardauth.") && last == "address");
    forwards.then_some(
        "makes the proxy, which every project shares, send requests to an address the label names: another project's container, the host, a cloud's metadata service",
    )
}

#[cfg(test)]
mod tests {
    use super::reaches_elsewhere;

    #[test]
    fn only_services_the_container_defines_are_free() {
        let own = vec!["web".to_owned()];
        for (key, value) in [
            ("traefik.http.routers.a.service", "api@internal"),
            ("traefik.http.routers.a.service", "web-nf-prod-billing"),
            ("traefik.http.middlewares.e.errors.service", "api@internal"),
            (
                "traefik.http.services.m.mirroring.mirrors[0].name",
                "x@docker",
            ),
            (
                "traefik.http.services.web.loadbalancer.server.url",
                "http://169.254.169.254/",
            ),
            (
                "traefik.http.middlewares.auth.forwardauth.address",
                "http://10.0.0.1/",
            ),
        ] {
            assert!(
                reaches_elsewhere(key, value, &own).is_some(),
                "{key}={value}"
            );
        }
        assert!(reaches_elsewhere("traefik.http.routers.a.service", "WEB", &own).is_none());
        assert!(reaches_elsewhere("traefik.http.routers.a.rule", "Host(`x`)", &own).is_none());
        assert!(reaches_elsewhere(
            "traefik.http.services.web.loadbalancer.server.port",
            "80",
            &own
        )
        .is_none());
    }
}
