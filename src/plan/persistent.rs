//! Rules 7, 8 and 9: what the proxy, shared and environment networks have in
//! common. They outlive one scope (created by `run`/`ensure` when missing), and services
//! join them beyond the networks they were written with.

use indexmap::IndexMap;

use crate::labels;

use super::ctx::push_unique;
use super::project::Identity;
use super::{role_name, Attachment, NetworkPlan, Role};

/// A service joining a network beyond its own, with the aliases it answers to there.
pub(super) struct Join {
    pub service: String,
    /// The network's logical key.
    pub network: String,
    pub aliases: Vec<String>,
}

/// Adds the cross-scope network `name` under `key` and returns the key services join it
/// by. A file that already declares a network of that name as external (the usual way
/// to join a proxy's or an environment's network by hand) has that key become it, rather
/// than a second key for one name.
pub(super) fn adopt_or_add(
    networks: &mut Vec<NetworkPlan>,
    key: &str,
    name: &str,
    role: Role,
    swarm: bool,
    id: &Identity,
    policy_labels: &IndexMap<String, String>,
) -> String {
    let declared = networks
        .iter()
        .position(|n| n.role == Role::External && n.name == name);
    match declared {
        Some(i) => {
            let key = networks[i].key.clone();
            let mut p = network(&key, name, role, swarm, id, policy_labels);
            p.driver = networks[i].driver.clone().or(p.driver);
            networks[i] = p;
            key
        }
        None => {
            networks.push(network(key, name, role, swarm, id, policy_labels));
            key.to_owned()
        }
    }
}

/// A cross-scope network. It carries no run's scope, so no run's clean-up removes it; the
/// environment network belongs to its environment, and `down --env` removes it.
pub(super) fn network(
    key: &str,
    name: &str,
    role: Role,
    swarm: bool,
    id: &Identity,
    policy_labels: &IndexMap<String, String>,
) -> NetworkPlan {
    let mut labels = IndexMap::new();
    labels.insert(labels::MANAGED.to_owned(), "true".to_owned());
    labels.insert(labels::NETWORK.to_owned(), key.to_owned());
    labels.insert(labels::ROLE.to_owned(), role_name(role).to_owned());
    for (k, v) in policy_labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if role == Role::Environment {
        if let Some(scope) = id.ownership.get(labels::SCOPE) {
            labels.insert(labels::SCOPE.to_owned(), scope.clone());
        }
    }
    NetworkPlan {
        key: key.to_owned(),
        name: name.to_owned(),
        role,
        driver: Some(if swarm { "overlay" } else { "bridge" }.to_owned()),
        internal: false,
        attachable: swarm,
        enable_ipv6: false,
        subnet: None,
        gateway: None,
        labels,
        driver_opts: IndexMap::new(),
        original_name: None,
        original_subnet: None,
        subnet6: None,
        original_subnet6: None,
    }
}

/// Adds a service's joins to its attachments, in the order they were planned.
pub(super) fn join(attachments: &mut Vec<Attachment>, joins: &[Join], service: &str) {
    for j in joins.iter().filter(|j| j.service == service) {
        // Only the aliases made for this network go on it: the old container_name and
        // policy aliases stay inside the stack, where other projects cannot answer to
        // them too (across projects, `<service>.<project>` is the name).
        match attachments.iter_mut().find(|a| a.network == j.network) {
            Some(a) => {
                for al in &j.aliases {
                    push_unique(&mut a.aliases, al);
                }
            }
            None => attachments.push(Attachment {
                network: j.network.clone(),
                aliases: j.aliases.clone(),
                ipv4_address: None,
                ipv6_address: None,
                gw_priority: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;

    fn attachment(network: &str, aliases: &[&str]) -> Attachment {
        Attachment {
            network: network.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            ipv4_address: None,
            ipv6_address: None,
            gw_priority: None,
        }
    }

    fn joining(service: &str, network: &str, aliases: &[&str]) -> Join {
        Join {
            service: service.into(),
            network: network.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_join_adds_the_network_with_only_its_own_aliases() {
        let mut a = vec![attachment("default", &["old-name"])];
        let joins = [
            joining("api", "netfence-env", &["api.shop"]),
            joining("web", "netfence-proxy", &[]),
        ];
        join(&mut a, &joins, "api");
        assert_eq!(
            a,
            [
                attachment("default", &["old-name"]),
                attachment("netfence-env", &["api.shop"])
            ]
        );
    }

    #[test]
    fn joining_a_network_already_attached_merges_aliases_once() {
        let mut a = vec![attachment("edge", &["x"])];
        let joins = [joining("api", "edge", &["x", "y"])];
        join(&mut a, &joins, "api");
        assert_eq!(a, [attachment("edge", &["x", "y"])]);
    }

    #[test]
    fn only_the_environment_network_carries_the_scope() {
        let w = World::new("services: {web: {}}", "").env("prod");
        let id = w.run(|ctx| crate::plan::project::identify(ctx)).unwrap();
        let labels = IndexMap::from([("team".to_owned(), "pay".to_owned())]);
        let env = network(
            "netfence-env",
            "nf-env-prod",
            Role::Environment,
            false,
            &id,
            &labels,
        );
        assert_eq!(env.labels[labels::SCOPE], "env:prod");
        assert_eq!(env.labels["team"], "pay");
        let proxy = network(
            "netfence-proxy",
            "nf-proxy",
            Role::Proxy,
            true,
            &id,
            &labels,
        );
        assert!(!proxy.labels.contains_key(labels::SCOPE));
        assert_eq!(proxy.labels[labels::ROLE], "proxy");
        assert_eq!(proxy.driver.as_deref(), Some("overlay"));
        assert!(proxy.attachable);
    }
}
