//! Names in the proxy every project shares, in tenant mode. Traefik reads every
//! container's labels into one configuration, by name: two projects' routers or services
//! of one name merge (one tenant's container takes a share of the other's traffic) or
//! are both dropped. The closed output ends every name a tenant's labels define, and
//! every bare name they refer to, with `-<project>`, the shape Traefik gives a Compose
//! container's own (`web-nf-prod-shop`): the tenant's names are its own whatever it
//! calls them. A reference the platform grants (`tenant.allow.proxy_services`, say its
//! own `redirect-to-https` middleware) is left as written.

use crate::proxy_labels::{traefik_defined_name, traefik_refers};
use crate::yaml::Mapping;

use super::ctx::Ctx;
use super::LabelRename;

/// The label renames of one service (its `labels` and `deploy.labels`).
pub(super) fn renames(
    ctx: &mut Ctx<'_>,
    project_name: &str,
    service: &str,
    svc: &Mapping,
) -> Vec<LabelRename> {
    if !ctx.tenant_mode() {
        return Vec::new();
    }
    let suffix = format!("-{}", project_name.to_ascii_lowercase());
    let granted = &ctx.policy().tenant.allow.proxy_services;
    let holders = [
        svc.get("labels"),
        svc.get("deploy").and_then(|d| d.get("labels")),
    ];
    let mut out = Vec::new();
    for (key, value) in holders.into_iter().flat_map(crate::labels::entries) {
        if !key.starts_with("traefik.") {
            continue;
        }
        let to = suffixed_key(&key, &suffix);
        let refs = suffixed_refs(&key, &value, &suffix, granted);
        if to != key || refs != value {
            out.push(LabelRename {
                from: key,
                to,
                value: refs,
                original: value,
            });
        }
    }
    if !out.is_empty() {
        ctx.change(
            format!("service {service}"),
            format!("proxy names end with `{suffix}`"),
            "the proxy every project shares reads its routers, services and middlewares by name: another project's of the same name would merge with this one's",
        );
    }
    out
}

fn suffixed_key(key: &str, suffix: &str) -> String {
    let Some(at) = traefik_defined_name(key) else {
        return key.to_owned();
    };
    let mut parts: Vec<String> = key.split('.').map(str::to_owned).collect();
    if !parts[at].to_ascii_lowercase().ends_with(suffix) {
        parts[at].push_str(suffix);
    }
    parts.join(".")
}

fn suffixed_refs(key: &str, value: &str, suffix: &str, granted: &[String]) -> String {
    if !traefik_refers(key) {
        return value.to_owned();
    }
    let kept = |r: &str| {
        r.is_empty()
            || r.contains('@')
            || r.to_ascii_lowercase().ends_with(suffix)
            || granted.iter().any(|g| crate::tenant::glob_matches(g, r))
    };
    let refs: Vec<String> = value
        .split(',')
        .map(str::trim)
        .map(|r| {
            if kept(r) {
                r.to_owned()
            } else {
                format!("{r}{suffix}")
            }
        })
        .collect();
    let joined = refs.join(",");
    if joined.replace(' ', "") == value.replace(' ', "") {
        value.to_owned()
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::{suffixed_key, suffixed_refs};

    const S: &str = "-nf-prod-shop";

    #[test]
    fn names_and_bare_references_get_the_projects_suffix_once() {
        assert_eq!(
            suffixed_key("traefik.http.routers.web.rule", S),
            "traefik.http.routers.web-nf-prod-shop.rule"
        );
        assert_eq!(
            suffixed_key(
                "traefik.http.Services.web-nf-prod-shop.loadbalancer.server.port",
                S
            ),
            "traefik.http.Services.web-nf-prod-shop.loadbalancer.server.port"
        );
        assert_eq!(suffixed_key("traefik.enable", S), "traefik.enable");
        let granted = vec!["redirect-to-https".to_owned()];
        assert_eq!(
            suffixed_refs(
                "traefik.http.routers.web.middlewares",
                "gzip, redirect-to-https,auth@file",
                S,
                &granted
            ),
            "gzip-nf-prod-shop,redirect-to-https,auth@file"
        );
        assert_eq!(
            suffixed_refs("traefik.http.routers.web.service", "web", S, &[]),
            "web-nf-prod-shop"
        );
        assert_eq!(
            suffixed_refs("traefik.http.routers.web.rule", "Host(`x`)", S, &[]),
            "Host(`x`)"
        );
    }
}
