//! The proxy's configuration, as a tenant's labels write it. Traefik reads every
//! container's labels into one configuration for the proxy all projects share. The
//! names a tenant's labels define, and the bare names they refer to, are the project's
//! own in the closed output (`plan/proxy_names.rs` ends them with `-<project>`); what
//! is judged here is what no renaming makes the project's: a reference to another
//! provider's object (`api@internal`, the proxy's own API; `x@file`, the platform's;
//! `x@docker` of another project) and labels that make the proxy connect to an address
//! (`server.url`, `forwardauth.address`, a rate limit's Redis `endpoints`). Traefik
//! matches label names without regard to case below `traefik.`.

use super::{Escape, Kind, Part};
use crate::proxy_labels::traefik_refers;
use crate::yaml::Value;

/// Judges the labels of one service (`holders`: each place labels are written);
/// `project` is the project's Compose name, which its proxy names end with.
pub(super) fn check(
    subject: &str,
    project: &str,
    holders: &[(Vec<Part>, Option<&Value>)],
    out: &mut Vec<Escape>,
) {
    let suffix = format!("-{}", project.to_ascii_lowercase());
    for (at, labels) in holders {
        for (key, value) in crate::labels::entries(*labels) {
            if !key.starts_with("traefik.") {
                continue;
            }
            let key = key.to_ascii_lowercase();
            let Some((kind, why)) = judge(&key, &value, &suffix) else {
                continue;
            };
            let item = (kind == Kind::ProxyRoute).then(|| first_foreign(&value));
            out.push(Escape::new(
                kind,
                subject,
                at.clone(),
                format!("label `{key}={value}` {why}"),
                item,
            ));
        }
    }
}

/// Why the label reaches past the project in the shared proxy, if it does.
fn judge(key: &str, value: &str, suffix: &str) -> Option<(Kind, String)> {
    let last = key.rsplit('.').next().unwrap_or_default();
    if matches!(last, "url" | "address" | "endpoints") {
        return Some((Kind::ProxyRoute, "makes the proxy, which every project shares, connect to an address the label names: another project's container, the host, a cloud's metadata service".into()));
    }
    if key.starts_with("traefik.tls.") {
        return Some((Kind::ProxyName, "configures the proxy's TLS for every project (its default certificate, its default options): not one project's to set".into()));
    }
    // A router's TLS options are named, not renamed (the docker provider defines none).
    let tls_options = last == "options" && key.contains(".tls.");
    if !traefik_refers(key) && !tls_options {
        return None;
    }
    let foreign: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|r| r.contains('@') && !own_docker(r, suffix))
        .collect();
    if foreign.is_empty() {
        return None;
    }
    let listed = foreign
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    // Another provider's name reaches past the project in any stack; another
    // container's only where projects share the proxy.
    let kind = if foreign.iter().any(|f| !f.ends_with("@docker")) {
        Kind::ProxyRoute
    } else {
        Kind::ProxyName
    };
    Some((kind, format!(
        "refers to {listed}, defined outside the project: another project's container (`@docker`), the proxy's own API (`@internal`) or the platform's (`@file`)"
    )))
}

/// What a grant would name: the first reference to another provider, or the address.
fn first_foreign(value: &str) -> String {
    value
        .split(',')
        .map(str::trim)
        .find(|r| r.contains('@') && !r.ends_with("@docker"))
        .unwrap_or(value.trim())
        .to_owned()
}

/// `name@docker` of the project's own (its names end with `-<project>`).
fn own_docker(reference: &str, suffix: &str) -> bool {
    reference
        .to_ascii_lowercase()
        .strip_suffix("@docker")
        .is_some_and(|name| name.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::judge;
    use crate::tenant::Kind;

    const OWN: &str = "-nf-prod-shop";

    #[test]
    fn other_providers_and_addresses_are_judged_bare_names_are_renamed_instead() {
        for (key, value, kind) in [
            (
                "traefik.http.routers.a.service",
                "api@internal",
                Kind::ProxyRoute,
            ),
            (
                "traefik.http.routers.a.service",
                "web-nf-prod-billing@docker",
                Kind::ProxyName,
            ),
            (
                "traefik.http.routers.a.middlewares",
                "gzip,auth@file",
                Kind::ProxyRoute,
            ),
            (
                "traefik.http.services.s.loadbalancer.server.url",
                "http://169.254.169.254/",
                Kind::ProxyRoute,
            ),
            (
                "traefik.http.middlewares.a.forwardauth.address",
                "http://10.0.0.1/",
                Kind::ProxyRoute,
            ),
            (
                "traefik.http.middlewares.r.ratelimit.redis.endpoints",
                "10.0.0.5:6379",
                Kind::ProxyRoute,
            ),
            (
                "traefik.tls.stores.default.defaultcertificate.certfile",
                "/etc/x.crt",
                Kind::ProxyName,
            ),
            (
                "traefik.http.routers.web.tls.options",
                "strict@file",
                Kind::ProxyRoute,
            ),
        ] {
            assert_eq!(
                judge(key, value, OWN).map(|(k, _)| k),
                Some(kind),
                "{key}={value}"
            );
        }
        for (key, value) in [
            ("traefik.http.routers.web.service", "web"),
            (
                "traefik.http.routers.web.service",
                "api-nf-prod-shop@docker",
            ),
            ("traefik.http.routers.web.rule", "Host(`shop.example.com`)"),
            ("traefik.http.services.web.loadbalancer.server.port", "80"),
            ("traefik.enable", "true"),
        ] {
            assert!(judge(key, value, OWN).is_none(), "{key}={value}");
        }
    }
}
