//! The proxy's configuration, as a tenant's labels write it. Traefik reads every
//! container's labels into one configuration for the proxy all projects share, by name:
//! a router, service or middleware a tenant names like another project's merges into it
//! (a service gains the tenant's container as one more server) or conflicts with it
//! (both are dropped). So every name a tenant's labels define ends with `-<project>`, as
//! Traefik's own default for a Compose container does (`web-nf-prod-shop`), and every
//! name they refer to is one of the project's own: not another project's (`@docker`, or
//! a bare name Traefik reads as one), not the proxy's API (`api@internal`), not the
//! platform's file-defined ones (`@file`) unless the platform grants them. Labels that
//! make the proxy connect to an address (`server.url`, `forwardauth.address`, a rate
//! limit's Redis `endpoints`) are refused. Traefik matches label names without regard to
//! case below `traefik.`.

use super::templates::NamePattern;
use super::{Escape, Kind, Part};
use crate::yaml::Value;

/// The kinds of object a label defines by name: `traefik.<proto>.<kind>.<name>.…`.
const NAMED: &[&str] = &["routers", "services", "middlewares", "serverstransports"];

/// Whose names are whose in the shared proxy.
pub(super) struct Names<'a> {
    /// The project's Compose name: Traefik calls its containers' default services
    /// `<service>-<project>`.
    pub project: &'a str,
    /// Every project's Compose name, as the policy's template makes them.
    pub projects: Option<&'a NamePattern>,
}

/// Judges the labels of one service (`holders`: each place labels are written; the
/// first is the container's own `labels`, the only ones outside Swarm).
pub(super) fn check(
    subject: &str,
    names: &Names<'_>,
    holders: &[(Vec<Part>, Option<&Value>)],
    out: &mut Vec<Escape>,
) {
    let lowered = |labels: Option<&Value>| -> Vec<(String, String)> {
        crate::labels::entries(labels)
            .into_iter()
            .filter(|(k, _)| k.starts_with("traefik."))
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect()
    };
    let defined: Vec<String> = holders
        .first()
        .map(|(_, l)| lowered(*l))
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| defined_name(&k.split('.').collect::<Vec<_>>()).map(str::to_owned))
        .collect();
    let judge = Judge { names, defined };
    for (at, labels) in holders {
        for (key, value) in lowered(*labels) {
            let Some((kind, why)) = judge.label(&key, &value) else {
                continue;
            };
            let item = (kind == Kind::ProxyRoute).then(|| value.clone());
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

struct Judge<'a> {
    names: &'a Names<'a>,
    /// The names the container's own labels define.
    defined: Vec<String>,
}

impl Judge<'_> {
    /// Why the label reaches past the project in the shared proxy, if it does.
    fn label(&self, key: &str, value: &str) -> Option<(Kind, String)> {
        let parts: Vec<&str> = key.split('.').collect();
        if let Some(name) = defined_name(&parts).filter(|n| self.anothers(n)) {
            return Some((Kind::ProxyName, format!(
                "names a proxy {} `{name}` as another project's are named (`<service>-<project>`, Traefik's default): the proxy merges the two, so this container would take a share of that project's traffic, or drops both",
                parts[2].trim_end_matches('s')
            )));
        }
        let last = parts.last().copied().unwrap_or_default();
        if matches!(last, "url" | "address" | "endpoints") {
            return Some((Kind::ProxyRoute, "makes the proxy, which every project shares, connect to an address the label names: another project's container, the host, a cloud's metadata service".into()));
        }
        let refers = matches!(last, "service" | "middlewares" | "serverstransport")
            || (last == "name" && key.contains(".mirrors"));
        if !refers {
            return None;
        }
        let foreign: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty() && !self.own_reference(r))
            .collect();
        if foreign.is_empty() {
            return None;
        }
        let listed = foreign
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ");
        // A provider's name (`@internal`, `@file`) reaches past the project in any stack;
        // a name of another container only where projects share the proxy.
        let kind = if foreign
            .iter()
            .any(|f| f.contains('@') && !f.ends_with("@docker"))
        {
            Kind::ProxyRoute
        } else {
            Kind::ProxyName
        };
        Some((kind, format!(
            "refers to {listed}, which this container's labels do not define: another container's (`@docker`, or a bare name Traefik reads as one), the proxy's API (`@internal`) or the platform's (`@file`)"
        )))
    }

    /// A bare name, or `name@docker`, that this container's labels define or that ends
    /// with the project's name (another of its containers').
    fn own_reference(&self, reference: &str) -> bool {
        let reference = reference.to_ascii_lowercase();
        let name = reference.strip_suffix("@docker").unwrap_or(&reference);
        let suffix = format!("-{}", self.names.project.to_ascii_lowercase());
        !name.contains('@') && (self.defined.iter().any(|d| d == name) || name.ends_with(&suffix))
    }

    /// Whether `name` ends with another project's Compose name.
    fn anothers(&self, name: &str) -> bool {
        let own = self.names.project.to_ascii_lowercase();
        let Some(projects) = self.names.projects else {
            return false;
        };
        name.match_indices('-')
            .map(|(i, _)| &name[i + 1..])
            .any(|tail| tail != own && projects.matches(tail))
    }
}

/// `<name>` of `traefik.<proto>.<kind>.<name>.…`.
fn defined_name<'a>(parts: &[&'a str]) -> Option<&'a str> {
    (parts.len() > 4 && NAMED.contains(&parts[2])).then(|| parts[3])
}

#[cfg(test)]
mod tests {
    use super::{Judge, Names};
    use crate::tenant::templates::NamePattern;

    #[test]
    fn names_and_references_stay_with_the_project() {
        let pattern = NamePattern::new("project", crate::naming::PROJECT_TEMPLATE, "nf");
        let names = Names {
            project: "nf-prod-shop",
            projects: pattern.as_ref(),
        };
        let judge = Judge {
            names: &names,
            defined: vec!["web".into()],
        };
        for (key, value) in [
            ("traefik.http.routers.a.service", "api@internal"),
            ("traefik.http.routers.a.service", "web-nf-prod-billing"),
            ("traefik.http.routers.a.service", "s"),
            (
                "traefik.http.services.web-nf-prod-billing.loadbalancer.server.port",
                "80",
            ),
            ("traefik.http.routers.web-nf-prod-billing.rule", "Host(`x`)"),
            ("traefik.http.routers.a.middlewares", "auth@file"),
            (
                "traefik.http.middlewares.e.errors.service",
                "x-nf-prod-shop-db",
            ),
            (
                "traefik.http.services.s.loadbalancer.server.url",
                "http://169.254.169.254/",
            ),
            (
                "traefik.http.middlewares.a.forwardauth.address",
                "http://10.0.0.1/",
            ),
            (
                "traefik.http.middlewares.r.ratelimit.redis.endpoints",
                "10.0.0.5:6379",
            ),
        ] {
            assert!(judge.label(key, value).is_some(), "{key}={value}");
        }
        for (key, value) in [
            ("traefik.http.routers.web.service", "web"),
            (
                "traefik.http.routers.web.service",
                "api-nf-prod-shop@docker",
            ),
            ("traefik.http.routers.web.rule", "Host(`shop.example.com`)"),
            ("traefik.http.services.web.loadbalancer.server.port", "80"),
            (
                "traefik.http.services.web-nf-prod-shop.loadbalancer.server.port",
                "80",
            ),
            ("traefik.enable", "true"),
            ("traefik.docker.network", "nf-proxy"),
        ] {
            assert!(judge.label(key, value).is_none(), "{key}={value}");
        }
    }
}
