//! Rule 9: ambiguous aliases. Compose gives every service its bare name as an
//! alias on every network, so two services answering to one name on a network resolve at
//! random, and one answering to a bare name on a network other projects share answers
//! their lookups of that name when they have no such service (rule 13 keeps its own
//! project's lookups at home).

use std::collections::BTreeMap;

use super::ctx::Ctx;
use super::{NetworkPlan, Role, ServicePlan};

pub(super) fn warn(
    ctx: &mut Ctx<'_>,
    project: &str,
    networks: &[NetworkPlan],
    services: &[ServicePlan],
) {
    for (net, names) in &names_by_network(services) {
        let Some(n) = networks.iter().find(|n| n.key == *net) else {
            continue;
        };
        for (alias, holders) in names {
            if holders.len() > 1 {
                ctx.warn(
                    format!("network {}", n.name),
                    format!(
                        "name `{alias}` resolves to several services ({}): DNS answers at random",
                        holders.join(", ")
                    ),
                );
            }
        }
        if n.role.is_persistent() || n.role == Role::External {
            shared_names(ctx, project, n, names);
        }
    }
}

/// Per network key, each name it resolves and the services answering to it.
fn names_by_network(services: &[ServicePlan]) -> BTreeMap<&str, BTreeMap<&str, Vec<&str>>> {
    let mut by_network: BTreeMap<&str, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for s in services {
        for a in &s.attachments {
            let names = by_network.entry(a.network.as_str()).or_default();
            names.entry(s.name.as_str()).or_default().push(&s.name);
            for al in &a.aliases {
                let v = names.entry(al.as_str()).or_default();
                if !v.contains(&s.name.as_str()) {
                    v.push(&s.name);
                }
            }
        }
    }
    by_network
}

/// On a network other projects share, any name but `<service>.<project>` may be
/// answered by another project's service too.
fn shared_names(
    ctx: &mut Ctx<'_>,
    project: &str,
    n: &NetworkPlan,
    names: &BTreeMap<&str, Vec<&str>>,
) {
    let scoped = format!(".{project}");
    for (alias, holders) in names {
        if holders.len() != 1 || alias.ends_with(&scoped) {
            continue;
        }
        let holder = holders[0];
        let what = if *alias == holder {
            format!("service `{alias}` answers to its bare name")
        } else {
            format!("service `{holder}` answers to `{alias}`")
        };
        let hint = if n.role == Role::Environment {
            format!(" — use `{holder}.{project}`")
        } else {
            String::new()
        };
        // Rule 13's priorities are Compose's: a Swarm stack has none.
        let risk = if ctx.swarm() {
            format!("if another project answers to `{alias}` here, DNS picks one at random")
        } else {
            format!("its own project asks its own networks first, but another project's service that asks for `{alias}` and has none of its own gets this one")
        };
        ctx.warn(
            format!("network {}", n.name),
            format!("{what} on this network, which other projects share: {risk}{hint}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;
    use crate::plan::Attachment;

    fn net(key: &str, role: Role) -> NetworkPlan {
        NetworkPlan {
            key: key.into(),
            name: format!("real-{key}"),
            role,
            driver: None,
            internal: false,
            attachable: false,
            enable_ipv6: false,
            subnet: None,
            gateway: None,
            labels: Default::default(),
            driver_opts: Default::default(),
            original_name: None,
            original_subnet: None,
            subnet6: None,
            original_subnet6: None,
        }
    }

    fn svc(name: &str, on: &[(&str, &[&str])]) -> ServicePlan {
        ServicePlan {
            name: name.into(),
            fenced: true,
            network_mode: None,
            public: false,
            image: None,
            proxy_renames: Vec::new(),
            attachments: on
                .iter()
                .map(|(n, aliases)| Attachment {
                    network: n.to_string(),
                    aliases: aliases.iter().map(|s| s.to_string()).collect(),
                    ipv4_address: None,
                    ipv6_address: None,
                    gw_priority: None,
                })
                .collect(),
            container_name: None,
            ports: vec![],
            proxy_labels: vec![],
            rewrite_networks: false,
            written_networks: None,
            written_ports: None,
        }
    }

    fn warnings(networks: &[NetworkPlan], services: &[ServicePlan]) -> Vec<String> {
        World::new("services: {}", "").run(|ctx| {
            warn(ctx, "shop", networks, services);
            ctx.warnings
                .iter()
                .map(|w| format!("{}: {}", w.subject, w.message))
                .collect()
        })
    }

    #[test]
    fn one_name_for_two_services_on_a_network_is_named() {
        let w = warnings(
            &[net("back", Role::Managed)],
            &[
                svc("db", &[("back", &["store"])]),
                svc("cache", &[("back", &["store"])]),
            ],
        );
        assert_eq!(
            w,
            ["network real-back: name `store` resolves to several services (db, cache): DNS answers at random"]
        );
    }

    #[test]
    fn distinct_names_inside_the_stack_are_fine() {
        let w = warnings(
            &[net("back", Role::Managed)],
            &[
                svc("db", &[("back", &["pg"])]),
                svc("api", &[("back", &[])]),
            ],
        );
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn bare_names_on_the_environment_network_get_the_scoped_name_as_a_hint() {
        let w = warnings(
            &[net("netfence-env", Role::Environment)],
            &[svc("db", &[("netfence-env", &["db.shop"])])],
        );
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("service `db` answers to its bare name"),
            "{w:?}"
        );
        assert!(w[0].ends_with("— use `db.shop`"), "{w:?}");
    }

    #[test]
    fn aliases_on_an_external_network_are_named_without_a_hint() {
        let w = warnings(
            &[net("edge", Role::External)],
            &[svc("web", &[("edge", &["www"])])],
        );
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[1].contains("service `web` answers to `www`"), "{w:?}");
        assert!(!w[1].contains("use `"), "{w:?}");
    }
}
