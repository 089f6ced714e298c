//! The fence as `verify` judges it, from labels: which networks a scope's containers may
//! be on, who else may be on the scope's networks, and what a container may not do live.
//! Pure: every rule is pinned below on hand-built containers and networks.
//!
//! A network is, to the scope being verified (by its `io.netfence.*` labels):
//! - **own** — a managed network labelled with the scope: only the scope's containers, and
//!   only its project's (`io.netfence.project`; with a plan, the plan's project);
//! - **the environment network** — `io.netfence.role=environment` of this environment:
//!   every container of the environment, whatever its project, and nothing else;
//! - **a proxy network** — `role=proxy`: public services (netfence-owned containers whose
//!   `traefik.docker.network`/`caddy_ingress_network` names it), of any scope, and the
//!   proxy itself (a container labelled `io.netfence.role=proxy`); nothing else;
//! - **a shared network** — `role=shared`: netfence-owned containers, of any scope, whose
//!   service the policy sends there (`shared.<key>.services`); nothing else;
//! - **foreign** — anything else: another environment's network, another scope's, one
//!   netfence does not label. A scope's container may be on one only when the plan
//!   declares it external, or (no plan) the policy grants it by
//!   `tenant.allow.external_networks` and it is no scope's.

use std::collections::{BTreeSet, HashMap};

use super::{Ctr, Net, Platform};
use crate::labels::{self, compose};
use crate::proxy_labels;
use crate::scope::Scope;
use crate::tenant::{self, Kind as Escape};

/// What a network is to the scope being verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    Own,
    Environment,
    Proxy,
    Shared,
    /// Whose it is, for messages.
    Foreign(String),
}

/// Networks that are namespace modes, not networks a container joins.
pub(super) fn is_mode(name: &str) -> bool {
    matches!(name, "host" | "none")
}

/// The rules for one scope, under one platform's policy.
pub(super) struct Rules<'a> {
    pub scope: &'a Scope,
    pub platform: &'a Platform,
    /// With a plan: the Compose project whose containers are the scope's here.
    pub project: Option<&'a str>,
}

impl Rules<'_> {
    fn scope_label(&self) -> String {
        self.scope.to_string()
    }

    pub fn kind(&self, name: &str, net: &Net) -> Kind {
        let scope = net.labels.get(labels::SCOPE).map(String::as_str);
        let ours = scope == Some(self.scope_label().as_str());
        match net.labels.get(labels::ROLE).map(String::as_str) {
            Some("environment") if ours => Kind::Environment,
            Some("environment") => Kind::Foreign(format!(
                "the environment network of {}",
                scope.unwrap_or("no environment")
            )),
            Some("proxy") => Kind::Proxy,
            Some("shared") => Kind::Shared,
            _ if ours => Kind::Own,
            _ => Kind::Foreign(match scope {
                Some(s) => format!("a network of {s}"),
                None if name == "bridge" => {
                    "Docker's default bridge, shared by every unfenced container".into()
                }
                None => "not netfence's".into(),
            }),
        }
    }

    /// May one of the scope's containers (with these labels) be on this network? Without
    /// a plan, this is what its attachments are judged by.
    pub fn may_use(&self, name: &str, net: &Net, c: &HashMap<String, String>) -> bool {
        match self.kind(name, net) {
            Kind::Own => net.labels.get(labels::PROJECT) == c.get(labels::PROJECT),
            Kind::Environment => true,
            Kind::Proxy => public_on(c, name),
            Kind::Shared => self.sent_to_shared(name, c),
            Kind::Foreign(_) => {
                !net.labels.contains_key(labels::SCOPE)
                    && self.platform.tenant
                    && tenant::grants(&self.platform.allow, Escape::ExternalNetwork, Some(name))
            }
        }
    }

    /// Why a container that is not one of the scope's (here) may not be on this network,
    /// or `None` when it may. `c`: its labels.
    pub fn intrusion(&self, name: &str, net: &Net, c: &HashMap<String, String>) -> Option<String> {
        let scope = c.get(labels::SCOPE);
        let whose = || match scope {
            Some(s) => s.clone(),
            None => "no netfence labels".to_owned(),
        };
        match self.kind(name, net) {
            Kind::Own => {
                if scope.map(String::as_str) != Some(self.scope_label().as_str()) {
                    return Some(whose());
                }
                let (theirs, want) = match self.project {
                    Some(p) => (c.get(compose::PROJECT), Some(p)),
                    None => (
                        c.get(labels::PROJECT),
                        net.labels.get(labels::PROJECT).map(String::as_str),
                    ),
                };
                (theirs.map(String::as_str) != want).then(|| {
                    format!(
                        "project {}",
                        theirs.map(String::as_str).unwrap_or("unknown")
                    )
                })
            }
            Kind::Environment => {
                (scope.map(String::as_str) != Some(self.scope_label().as_str())).then(whose)
            }
            Kind::Proxy => {
                let is_proxy = c.get(labels::ROLE).map(String::as_str) == Some("proxy");
                let public = scope.is_some() && public_on(c, name);
                (!is_proxy && !public).then(|| match scope {
                    Some(s) => format!("{s}, not a public service"),
                    None => "no netfence labels, not the proxy (io.netfence.role=proxy)".into(),
                })
            }
            Kind::Shared => (scope.is_none() || !self.sent_to_shared(name, c)).then(|| {
                match (scope, c.get(compose::SERVICE)) {
                    (Some(s), Some(svc)) => {
                        format!("{s}, service {svc}: not one the policy sends here")
                    }
                    (Some(s), None) => format!("{s}, not a service the policy sends here"),
                    (None, _) => whose(),
                }
            }),
            // Not the scope's to say who may be there; its containers being there is
            // what is named.
            Kind::Foreign(_) => None,
        }
    }

    fn sent_to_shared(&self, name: &str, c: &HashMap<String, String>) -> bool {
        let service = c.get(compose::SERVICE);
        self.platform
            .shared
            .get(name)
            .is_some_and(|services| service.is_some_and(|s| services.contains(s)))
    }

    /// What `c` (one of the scope's containers) does live that reaches past the fence:
    /// host namespaces, other containers' namespaces, privileges, the Docker socket,
    /// added capabilities. `who(id)` says whose another container is (`None`: not found).
    pub fn escapes(&self, c: &Ctr, who: impl Fn(&str) -> Option<Other>) -> Vec<Found> {
        let conf = &c.confinement;
        let mut out = Vec::new();
        let modes = [
            ("network", &conf.network_mode),
            ("pid", &conf.pid_mode),
            ("ipc", &conf.ipc_mode),
            ("uts", &conf.uts_mode),
            ("userns", &conf.userns_mode),
        ];
        for (ns, mode) in modes {
            if mode == "host" {
                let (kind, observed) = if ns == "network" {
                    (
                        Escape::HostNetwork,
                        "network_mode host: the host's network stack".to_owned(),
                    )
                } else {
                    (Escape::HostNamespace, format!("{ns}: host"))
                };
                out.push(self.found(kind, None, "its own namespaces", observed));
            } else if let Some(id) = mode.strip_prefix("container:") {
                if let Some(f) = self.joined(c, ns, id, who(id)) {
                    out.push(f);
                }
            }
        }
        if conf.privileged {
            out.push(self.found(
                Escape::Privileged,
                None,
                "not privileged",
                "privileged".into(),
            ));
        }
        for b in &conf.binds {
            if tenant::exposes_docker_socket(&b.source) {
                out.push(self.found(
                    Escape::DockerSocket,
                    None,
                    "no Docker socket",
                    format!(
                        "bind mount {} → {}: the Docker API",
                        b.source, b.destination
                    ),
                ));
            }
        }
        for cap in &conf.cap_add {
            if let Some(cap) = tenant::added_capability(cap) {
                out.push(self.found(
                    Escape::Capability,
                    Some(cap.clone()),
                    "Docker's default capabilities",
                    format!("cap_add {cap}"),
                ));
            }
        }
        out
    }

    /// `c` runs in the `ns` namespace of container `id`: fine within its project; across
    /// scopes a difference in any mode; otherwise one in tenant mode.
    fn joined(&self, c: &Ctr, ns: &str, id: &str, other: Option<Other>) -> Option<Found> {
        let short = &id[..id.len().min(12)];
        let mine = self.scope_label();
        let (across, observed) = match &other {
            Some(o) if o.same_project(c, self.project) && o.scope.as_deref() == Some(&mine) => {
                return None
            }
            Some(o) => (
                o.scope.as_deref().is_some_and(|s| s != mine),
                format!("{ns} namespace of container {} ({})", o.name, o.whose()),
            ),
            None => (
                false,
                format!("{ns} namespace of container {short} (not found)"),
            ),
        };
        let mut f = self.found(
            Escape::ForeignNamespace,
            None,
            "its own namespaces (or its project's)",
            observed,
        );
        if across {
            f.ok = false;
            f.note = Some(format!("another scope's: {mine} reaches into it"));
        }
        Some(f)
    }

    /// An escape judged: a difference in tenant mode unless the policy grants it; shown,
    /// not judged, in a trusted scope.
    fn found(&self, kind: Escape, item: Option<String>, expected: &str, observed: String) -> Found {
        let grant = kind.grant_key();
        let granted =
            self.platform.tenant && tenant::grants(&self.platform.allow, kind, item.as_deref());
        let (ok, note) = if !self.platform.tenant {
            (
                true,
                Some(format!("trusted: {} is not in tenant mode", self.scope)),
            )
        } else if granted {
            (
                true,
                Some(format!(
                    "granted by tenant.allow.{}",
                    grant.unwrap_or_default()
                )),
            )
        } else {
            let remedy = match (grant, &item) {
                (Some(g), Some(i)) => {
                    format!("tenant mode; the policy can allow it with `tenant.allow.{g}: [{i}]`")
                }
                (Some(g), None) => {
                    format!("tenant mode; the policy can allow it with `tenant.allow.{g}: true`")
                }
                (None, _) => "tenant mode; no policy key allows it".to_owned(),
            };
            (false, Some(remedy))
        };
        Found {
            expected: expected.to_owned(),
            observed,
            ok,
            note,
        }
    }
}

/// Whether a network's members are the scope's to judge: its own (with a plan, the
/// planned ones), its environment network, and the proxy and shared networks it uses.
pub(super) fn judges_members(
    kind: &Kind,
    planned_own: Option<&BTreeSet<String>>,
    name: &str,
    used: bool,
) -> bool {
    match kind {
        Kind::Own => planned_own.is_none_or(|own| own.contains(name)),
        Kind::Environment => true,
        Kind::Proxy | Kind::Shared => used,
        Kind::Foreign(_) => false,
    }
}

/// Another container, as far as the rules need it.
#[derive(Debug, Clone, Default)]
pub(super) struct Other {
    pub name: String,
    pub scope: Option<String>,
    /// Compose's project label.
    pub project: Option<String>,
}

impl Other {
    pub fn of(name: &str, labels: &HashMap<String, String>) -> Other {
        Other {
            name: name.to_owned(),
            scope: labels.get(labels::SCOPE).cloned(),
            project: labels.get(compose::PROJECT).cloned(),
        }
    }

    fn same_project(&self, c: &Ctr, plan_project: Option<&str>) -> bool {
        let project = plan_project.or(c.labels.get(compose::PROJECT).map(String::as_str));
        project.is_some() && self.project.as_deref() == project
    }

    /// `env:prod, project nf-prod-x` / `no netfence labels`.
    pub fn whose(&self) -> String {
        match (&self.scope, &self.project) {
            (Some(s), Some(p)) => format!("{s}, project {p}"),
            (Some(s), None) => s.clone(),
            (None, Some(p)) => format!("no netfence labels, project {p}"),
            (None, None) => "no netfence labels".to_owned(),
        }
    }
}

/// One live escape, judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    pub expected: String,
    pub observed: String,
    pub ok: bool,
    /// Why it is (not) a difference: trusted, granted, or how the policy could allow it.
    pub note: Option<String>,
}

/// Is `c` a public service on proxy network `name`: netfence-owned, with a proxy's network
/// label naming it?
fn public_on(c: &HashMap<String, String>, name: &str) -> bool {
    c.contains_key(labels::SCOPE)
        && proxy_labels::NETWORK_LABELS
            .iter()
            .any(|l| c.get(*l).map(String::as_str) == Some(name))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{labelled, net_with};
    use super::*;
    use std::collections::BTreeMap;

    fn rules<'a>(scope: &'a Scope, platform: &'a Platform) -> Rules<'a> {
        Rules {
            scope,
            platform,
            project: None,
        }
    }

    #[test]
    fn a_network_is_what_its_labels_say_it_is_to_the_scope() {
        let scope = Scope::Env("staging".into());
        let platform = Platform::default();
        let r = rules(&scope, &platform);
        let kind = |labels: &[(&str, &str)], name: &str| r.kind(name, &net_with(labels, &[]));
        let env = (labels::ROLE, "environment");
        assert_eq!(
            kind(&[(labels::SCOPE, "env:staging"), env], "e"),
            Kind::Environment
        );
        assert_eq!(
            kind(&[(labels::SCOPE, "env:prod"), env], "e"),
            Kind::Foreign("the environment network of env:prod".into())
        );
        assert_eq!(kind(&[(labels::SCOPE, "env:staging")], "n"), Kind::Own);
        assert_eq!(
            kind(&[(labels::SCOPE, "run:x")], "n"),
            Kind::Foreign("a network of run:x".into())
        );
        assert_eq!(kind(&[(labels::ROLE, "proxy")], "p"), Kind::Proxy);
        assert_eq!(kind(&[(labels::ROLE, "shared")], "s"), Kind::Shared);
        assert!(matches!(kind(&[], "bridge"), Kind::Foreign(w) if w.contains("default bridge")));
        assert_eq!(kind(&[], "coolify"), Kind::Foreign("not netfence's".into()));
    }

    #[test]
    fn who_may_be_on_each_kind_of_network() {
        let scope = Scope::Env("staging".into());
        let platform = Platform {
            shared: BTreeMap::from([("infra".to_owned(), BTreeSet::from(["db".to_owned()]))]),
            ..Platform::default()
        };
        let r = rules(&scope, &platform);
        let env = net_with(
            &[
                (labels::SCOPE, "env:staging"),
                (labels::ROLE, "environment"),
            ],
            &[],
        );
        let proxy = net_with(&[(labels::ROLE, "proxy")], &[]);
        let shared = net_with(&[(labels::ROLE, "shared")], &[]);
        let blog = labelled("env:staging", "nf-staging-blog", "api");
        let prod_db = labelled("env:prod", "nf-prod-shop", "db");
        let mut prod_web = labelled("env:prod", "nf-prod-shop", "web");
        prod_web.insert(
            proxy_labels::CADDY_INGRESS_NETWORK.into(),
            "nf-proxy".into(),
        );
        let mut the_proxy = HashMap::new();
        the_proxy.insert(labels::ROLE.to_owned(), "proxy".to_owned());
        let nobody = HashMap::new();
        // The environment network: the environment's containers, whatever the project.
        assert_eq!(r.intrusion("e", &env, &blog), None);
        assert_eq!(
            r.intrusion("e", &env, &prod_db).as_deref(),
            Some("env:prod")
        );
        assert_eq!(
            r.intrusion("e", &env, &nobody).as_deref(),
            Some("no netfence labels")
        );
        // The proxy network: public services of any scope, and the proxy.
        assert_eq!(r.intrusion("nf-proxy", &proxy, &prod_web), None);
        assert_eq!(r.intrusion("nf-proxy", &proxy, &the_proxy), None);
        assert!(r.intrusion("nf-proxy", &proxy, &prod_db).is_some());
        assert!(r.intrusion("other-proxy", &proxy, &prod_web).is_some());
        assert!(r.intrusion("nf-proxy", &proxy, &nobody).is_some());
        // A shared network: the services the policy sends there, of any scope.
        assert_eq!(r.intrusion("infra", &shared, &prod_db), None);
        assert!(r.intrusion("infra", &shared, &prod_web).is_some());
        assert!(r.intrusion("elsewhere", &shared, &prod_db).is_some());
        // Ours: a public service on the proxy, the policy's services on a shared network.
        assert!(r.may_use("nf-proxy", &proxy, &prod_web));
        assert!(!r.may_use("nf-proxy", &proxy, &prod_db));
        assert!(r.may_use("infra", &shared, &prod_db));
        assert!(!r.may_use("infra", &shared, &blog));
    }

    #[test]
    fn an_unlabelled_external_network_is_allowed_only_when_tenant_mode_grants_it() {
        let scope = Scope::Env("staging".into());
        let mut platform = Platform {
            tenant: true,
            ..Platform::default()
        };
        let ours = labelled("env:staging", "nf-staging-shop", "web");
        let coolify = net_with(&[], &[]);
        let prod = net_with(&[(labels::SCOPE, "env:prod")], &[]);
        assert!(!rules(&scope, &platform).may_use("coolify", &coolify, &ours));
        platform.allow.external_networks = vec!["cool*".into(), "nf-prod-*".into()];
        assert!(rules(&scope, &platform).may_use("coolify", &coolify, &ours));
        // Another scope's network is never a grant's to give.
        assert!(!rules(&scope, &platform).may_use("nf-prod-x", &prod, &ours));
    }
}
