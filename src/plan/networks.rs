//! Rule 3: networks. Each logical network of the file keeps its key and gets a
//! scoped, sanitised `name:`, ownership labels and the policy's settings; a fixed name is
//! replaced and kept in a label; the implicit `default` is made explicit when used; two
//! logical networks never map to one name.

use std::collections::{BTreeMap, BTreeSet};

use crate::yaml::Mapping;
use indexmap::IndexMap;

use crate::compose::{self, DEFAULT_NETWORK};
use crate::error::Result;
use crate::labels;
use crate::naming;
use crate::policy::NetworkSettings;
use crate::yaml::{is_truthy, scalar_string};

use super::assignment::Draft;
use super::ctx::Ctx;
use super::project::Identity;
use super::written::Written;
use super::{subnets, swarm, NetworkPlan, Role};

pub(super) fn plan(
    ctx: &mut Ctx<'_>,
    id: &Identity,
    written: &Written<'_>,
    drafts: &[Draft<'_>],
) -> Result<Vec<NetworkPlan>> {
    let template = ctx.policy().naming.network.clone().unwrap_or_else(|| {
        // Environments of several projects share a host for good, so their networks
        // carry the project too.
        if id.scope.is_env() {
            crate::naming::ENV_NETWORK_OF_PROJECT_TEMPLATE.into()
        } else {
            crate::naming::RUN_NETWORK_TEMPLATE.into()
        }
    });
    let empty = Mapping::new();
    keys(ctx, written, drafts)
        .iter()
        .map(|key| {
            let decl = written.networks.get(key).unwrap_or(&empty);
            if compose::is_external(decl) {
                Ok(external(key, decl))
            } else {
                managed(ctx, id, &template, key, decl)
            }
        })
        .collect()
}

/// The declared keys, and the implicit `default` when a service uses it undeclared.
fn keys(ctx: &mut Ctx<'_>, written: &Written<'_>, drafts: &[Draft<'_>]) -> Vec<String> {
    let mut keys: Vec<String> = written.networks.keys().cloned().collect();
    let used: BTreeSet<&str> = drafts
        .iter()
        .flat_map(|d| d.attachments.iter().map(|a| a.network.as_str()))
        .collect();
    if used.contains(DEFAULT_NETWORK) && !written.networks.contains_key(DEFAULT_NETWORK) {
        keys.push(DEFAULT_NETWORK.to_owned());
        ctx.change(
            "network default",
            "made explicit",
            "services use Compose's implicit default network; it needs a scoped name like the rest",
        );
    }
    keys
}

/// An external network belongs to someone else: it is used as it is.
fn external(key: &str, decl: &Mapping) -> NetworkPlan {
    NetworkPlan {
        key: key.to_owned(),
        name: compose::external_name(key, decl),
        role: Role::External,
        driver: decl.get("driver").and_then(scalar_string),
        internal: false,
        attachable: false,
        enable_ipv6: false,
        subnet: None,
        gateway: None,
        labels: IndexMap::new(),
        driver_opts: IndexMap::new(),
        original_name: None,
        original_subnet: None,
        subnet6: None,
        original_subnet6: None,
    }
}

fn managed(
    ctx: &mut Ctx<'_>,
    id: &Identity,
    template: &str,
    key: &str,
    decl: &Mapping,
) -> Result<NetworkPlan> {
    let settings = ctx.policy().networks.get(key).cloned().unwrap_or_default();
    let raw = ctx.render(template, &ctx.vars(id).network(key), "/naming/network")?;
    let name = naming::sanitise(&raw);
    let original_name = decl.get("name").and_then(scalar_string);
    if let Some(orig) = &original_name {
        ctx.change(
            format!("network {key}"),
            format!("name `{orig}` → `{name}`"),
            "a fixed network name is shared by every copy of the stack",
        );
    }
    let labels = network_labels(id, &settings, key, original_name.as_deref());
    let mut net = NetworkPlan {
        key: key.to_owned(),
        name,
        role: Role::Managed,
        driver: settings
            .driver
            .clone()
            .or_else(|| decl.get("driver").and_then(scalar_string)),
        internal: false,
        attachable: settings
            .attachable
            .or_else(|| decl.get("attachable").map(is_truthy))
            .unwrap_or(false),
        enable_ipv6: false,
        subnet: None,
        gateway: None,
        labels,
        driver_opts: settings.driver_opts.clone(),
        original_name,
        original_subnet: subnets::first_subnet(decl, false),
        subnet6: None,
        original_subnet6: subnets::first_subnet(decl, true),
    };
    if ctx.swarm() {
        swarm::overlay(ctx, &mut net, &settings);
    }
    net.internal = internal(ctx, key, &settings, decl);
    net.enable_ipv6 = settings
        .enable_ipv6
        .or_else(|| decl.get("enable_ipv6").map(is_truthy))
        .unwrap_or(false);
    Ok(net)
}

/// The policy's labels for this network, then the owned labels, then what names it.
fn network_labels(
    id: &Identity,
    settings: &NetworkSettings,
    key: &str,
    original_name: Option<&str>,
) -> IndexMap<String, String> {
    let mut labels = settings.labels.clone();
    for (k, v) in &id.owned_labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    labels.insert(labels::NETWORK.to_owned(), key.to_owned());
    if let Some(orig) = original_name {
        labels.insert(labels::ORIGINAL_NAME.to_owned(), orig.to_owned());
    }
    labels
}

fn internal(ctx: &mut Ctx<'_>, key: &str, settings: &NetworkSettings, decl: &Mapping) -> bool {
    let written = decl.get("internal").is_some_and(is_truthy);
    if settings.internal == Some(true) && !written {
        ctx.change(
            format!("network {key}"),
            "internal: true",
            "policy networks.internal",
        );
    }
    settings
        .internal
        .or_else(|| decl.get("internal").map(is_truthy))
        .unwrap_or(false)
}

/// The plan's networks, once complete, must be creatable: distinct names, and no more
/// than the host's limit of managed networks.
pub(super) fn check(ctx: &Ctx<'_>, networks: &[NetworkPlan]) -> Result<()> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for n in networks {
        if let Some(other) = seen.insert(&n.name, &n.key) {
            if other != n.key {
                return Err(ctx.compose_err(format!(
                    "networks `{other}` and `{}` would both be named `{}`: change naming.network or the keys",
                    n.key, n.name
                )));
            }
        }
    }
    let limit = ctx.policy().max_networks() as usize;
    let managed_count = networks.iter().filter(|n| n.role != Role::External).count();
    if managed_count > limit {
        return Err(ctx.policy_err(
            "/limits/max_networks",
            format!(
                "the plan needs {managed_count} managed networks, more than the limit of {limit}"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::assignment;
    use crate::plan::ctx::testing::World;
    use crate::plan::written;

    /// The networks and the change list, or the error.
    fn planned(w: &World) -> Result<(Vec<NetworkPlan>, Vec<String>)> {
        w.run(|ctx| {
            let id = crate::plan::project::identify(ctx)?;
            let written = written::read(ctx)?;
            let drafts = assignment::assign(ctx, &written)?;
            let nets = plan(ctx, &id, &written, &drafts)?;
            check(ctx, &nets)?;
            let changes = ctx
                .changes
                .iter()
                .map(|c| format!("{}: {}", c.subject, c.change))
                .collect();
            Ok((nets, changes))
        })
    }

    #[test]
    fn a_fixed_network_name_is_replaced_and_kept_in_a_label() {
        let w = World::new(
            "services: {db: {networks: [data]}}\nnetworks: {data: {name: prod-data}}",
            "",
        );
        let (nets, changes) = planned(&w).unwrap();
        assert_eq!(nets[0].name, "nf-r1-data");
        assert_eq!(nets[0].original_name.as_deref(), Some("prod-data"));
        assert_eq!(nets[0].labels[labels::ORIGINAL_NAME], "prod-data");
        assert_eq!(nets[0].labels[labels::NETWORK], "data");
        assert_eq!(changes, ["network data: name `prod-data` → `nf-r1-data`"]);
    }

    #[test]
    fn environments_put_the_project_in_the_name() {
        let w = World::new("services: {db: {}}", "").env("staging");
        let (nets, _) = planned(&w).unwrap();
        assert_eq!(nets[0].name, "nf-staging-shop-default");
        assert_eq!(nets[0].labels[labels::SCOPE], "env:staging");
    }

    #[test]
    fn the_implicit_default_is_made_explicit_only_when_used() {
        let w = World::new("services: {db: {}}", "");
        let (nets, changes) = planned(&w).unwrap();
        assert_eq!(nets[0].key, "default");
        assert_eq!(changes, ["network default: made explicit"]);

        let w = World::new(
            "services: {db: {networks: [data]}}\nnetworks: {data: {}}",
            "",
        );
        let (nets, changes) = planned(&w).unwrap();
        assert_eq!(nets.len(), 1);
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn names_are_sanitised_to_what_docker_accepts() {
        let w = World::new(
            "services: {db: {networks: [Data_Net]}}\nnetworks: {Data_Net: {}}",
            "naming: { network: \"{{ prefix }}/{{ network }}\" }",
        );
        let (nets, _) = planned(&w).unwrap();
        assert_eq!(nets[0].name, "nf-data_net");
    }

    #[test]
    fn two_logical_networks_never_map_to_one_name() {
        let w = World::new(
            "services: {db: {networks: [a, b]}}\nnetworks: {a: {}, b: {}}",
            "naming: { network: \"{{ prefix }}-same\" }",
        );
        let e = planned(&w).err().unwrap().to_string();
        assert!(
            e.contains("networks `a` and `b` would both be named `nf-same`"),
            "{e}"
        );
    }

    #[test]
    fn external_networks_are_left_as_they_are() {
        let w = World::new(
            "services: {db: {networks: [edge]}}\nnetworks: {edge: {external: true, name: traefik}}",
            "",
        );
        let (nets, changes) = planned(&w).unwrap();
        assert_eq!(nets[0].role, Role::External);
        assert_eq!(nets[0].name, "traefik");
        assert!(nets[0].labels.is_empty());
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn policy_settings_win_and_a_new_internal_flag_is_reported() {
        let w = World::new(
            "services: {db: {networks: [data]}}\nnetworks: {data: {driver: macvlan}}",
            "networks: { data: { internal: true, driver: bridge, labels: { tier: data } } }\nlabels: { team: pay }",
        );
        let (nets, changes) = planned(&w).unwrap();
        assert!(nets[0].internal);
        assert_eq!(nets[0].driver.as_deref(), Some("bridge"));
        let keys: Vec<&str> = nets[0].labels.keys().map(String::as_str).collect();
        assert_eq!(keys[..2], ["tier", "team"]);
        assert_eq!(changes, ["network data: internal: true"]);
    }

    #[test]
    fn more_managed_networks_than_the_limit_is_an_error() {
        let w = World::new(
            "services: {db: {networks: [a, b, c]}}\nnetworks: {a: {}, b: {}, c: {}}",
            "limits: { max_networks: 2 }",
        );
        let e = planned(&w).err().unwrap().to_string();
        assert!(e.contains("/limits/max_networks"), "{e}");
        assert!(e.contains("needs 3 managed networks"), "{e}");
    }
}
