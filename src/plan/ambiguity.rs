//! Rule 9 (SPEC §3): ambiguous aliases. Compose gives every service its bare name as an
//! alias on every network, so two services answering to one name on a network — or one
//! answering to a bare name on a network other projects share — resolve at random.

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
fn names_by_network(services: &[ServicePlan]) -> BTreeMap<&str, BTreeMap<String, Vec<&str>>> {
    let mut by_network: BTreeMap<&str, BTreeMap<String, Vec<&str>>> = BTreeMap::new();
    for s in services {
        for a in &s.attachments {
            let names = by_network.entry(a.network.as_str()).or_default();
            names.entry(s.name.clone()).or_default().push(&s.name);
            for al in &a.aliases {
                let v = names.entry(al.clone()).or_default();
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
    names: &BTreeMap<String, Vec<&str>>,
) {
    let scoped = format!(".{project}");
    for (alias, holders) in names {
        if holders.len() != 1 || alias.ends_with(&scoped) {
            continue;
        }
        let holder = holders[0];
        let what = if alias == holder {
            format!("service `{alias}` answers to its bare name")
        } else {
            format!("service `{holder}` answers to `{alias}`")
        };
        let hint = if n.role == Role::Environment {
            format!(" — use `{holder}.{project}`")
        } else {
            String::new()
        };
        ctx.warn(
            format!("network {}", n.name),
            format!(
                "{what} on this network, which other projects share: if another project answers to `{alias}` here, DNS picks one at random{hint}"
            ),
        );
    }
}
