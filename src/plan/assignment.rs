//! Rule 6: service assignment. Each service keeps the attachments it was
//! written with (following same-file `extends`) unless the policy's `services:` sets its
//! networks; `network_mode` services are never given networks.

use std::collections::BTreeSet;

use crate::yaml::{Mapping, Value};
use indexmap::IndexMap;

use crate::compose::{self, DEFAULT_NETWORK};
use crate::error::Result;
use crate::policy::escape_pointer;
use crate::yaml::scalar_string;

use super::ctx::{list, push_unique, Ctx};
use super::written::Written;
use super::Attachment;

/// A service between assignment and its per-service edits.
pub(super) struct Draft<'a> {
    pub name: String,
    pub svc: &'a Mapping,
    pub network_mode: Option<String>,
    /// The attachments as written (the implicit default when none are): `networks:` is
    /// rewritten only when the plan's differ.
    pub as_written: Vec<Attachment>,
    pub attachments: Vec<Attachment>,
    pub public: bool,
    pub container_name: Option<String>,
}

impl Attachment {
    /// One attachment as a service's `networks:` entry writes it.
    pub(super) fn written(network: &str, cfg: Option<&Mapping>) -> Attachment {
        let field = |name: &str| cfg.and_then(|c| c.get(name));
        Attachment {
            network: network.to_owned(),
            aliases: field("aliases")
                .and_then(Value::as_sequence)
                .map(|s| s.iter().filter_map(scalar_string).collect())
                .unwrap_or_default(),
            ipv4_address: field("ipv4_address").and_then(scalar_string),
            ipv6_address: field("ipv6_address").and_then(scalar_string),
            gw_priority: field("gw_priority")
                .and_then(scalar_string)
                .and_then(|s| s.trim().parse().ok()),
        }
    }
}

pub(super) fn assign<'a>(ctx: &mut Ctx<'_>, written: &Written<'a>) -> Result<Vec<Draft<'a>>> {
    written
        .services
        .iter()
        .map(|(name, svc)| draft(ctx, written, name, svc))
        .collect()
}

fn draft<'a>(
    ctx: &mut Ctx<'_>,
    written: &Written<'a>,
    name: &str,
    svc: &'a Mapping,
) -> Result<Draft<'a>> {
    let (entries, network_mode) = written_attachments(name, &written.services);
    let as_written: Vec<Attachment> = match &entries {
        Some(w) => w
            .iter()
            .map(|(k, c)| Attachment::written(k, c.as_ref()))
            .collect(),
        None => vec![Attachment::written(DEFAULT_NETWORK, None)],
    };
    let mut attachments = match network_mode {
        Some(_) => Vec::new(),
        None => as_written.clone(),
    };
    let explicit = ctx
        .policy()
        .services
        .get(name)
        .and_then(|s| s.networks.as_ref());
    if let Some(explicit) = explicit {
        if network_mode.is_some() {
            return Err(ctx.policy_err(
                format!("/services/{}/networks", escape_pointer(name)),
                format!("service `{name}` has `network_mode`, so it cannot join networks"),
            ));
        }
        attachments = explicit_attachments(ctx, name, &attachments, explicit);
    }
    if let Some(a) = attachments
        .iter()
        .find(|a| !written.network_keys.contains(&a.network))
    {
        return Err(ctx.compose_err(format!(
            "service `{name}` refers to network `{}`, which is not declared under `networks:` (declared: {})",
            a.network,
            list(written.networks.keys())
        )));
    }
    let public = network_mode.is_none() && super::proxy::is_public(ctx.policy(), name, svc);
    Ok(Draft {
        name: name.to_owned(),
        svc,
        network_mode,
        as_written,
        attachments,
        public,
        container_name: svc.get("container_name").and_then(scalar_string),
    })
}

/// The policy's networks for a service; an attachment it already had keeps its aliases
/// and addresses.
fn explicit_attachments(
    ctx: &mut Ctx<'_>,
    name: &str,
    current: &[Attachment],
    explicit: &[String],
) -> Vec<Attachment> {
    let before: Vec<&str> = current.iter().map(|a| a.network.as_str()).collect();
    if before != explicit {
        ctx.change(
            format!("service {name}"),
            format!("networks {} → {}", list(&before), list(explicit)),
            "policy services.networks",
        );
    }
    explicit
        .iter()
        .map(|k| {
            current
                .iter()
                .find(|a| a.network == *k)
                .cloned()
                .unwrap_or_else(|| Attachment::written(k, None))
        })
        .collect()
}

/// The policy's extra aliases for a service, on one of its attachments.
pub(super) fn add_policy_aliases(ctx: &Ctx<'_>, service: &str, a: &mut Attachment) {
    if let Some(s) = ctx.policy().services.get(service) {
        for alias in &s.aliases {
            push_unique(&mut a.aliases, alias);
        }
    }
}

/// Attachments as written: each network key with its per-attachment config.
type Entries = Vec<(String, Option<Mapping>)>;

/// A service's attachments as written, after following same-file `extends`, or its
/// `network_mode`. Along a chain the attachments of every level merge as Compose merges
/// them (the base's first; a network both name gets both configs, the service's over the
/// base's); a `network_mode` on the way ends it.
fn written_attachments(
    name: &str,
    services: &IndexMap<String, &Mapping>,
) -> (Option<Entries>, Option<String>) {
    let mut current = name.to_owned();
    let mut seen = BTreeSet::new();
    // Nearest level first.
    let mut levels: Vec<Entries> = Vec::new();
    let mut mode = None;
    while let Some(svc) = services.get(&current) {
        if let Some(m) = compose::network_mode(svc) {
            if levels.is_empty() {
                mode = Some(m);
            }
            break;
        }
        if let Some(a) = compose::attachments(svc) {
            levels.push(a);
        }
        match compose::extends_base(svc) {
            Some(base) if seen.insert(base.clone()) => current = base,
            _ => break,
        }
    }
    if levels.is_empty() {
        return (None, mode);
    }
    let mut merged: Entries = Vec::new();
    for level in levels.into_iter().rev() {
        for (net, cfg) in level {
            match merged.iter_mut().find(|(n, _)| *n == net) {
                Some((_, slot)) => {
                    *slot = match (slot.take(), cfg) {
                        (Some(base), Some(over)) => {
                            let mut b = Value::Mapping(base);
                            crate::merge::merge_service(&mut b, Value::Mapping(over));
                            b.as_mapping().cloned()
                        }
                        (base, over) => over.or(base),
                    }
                }
                None => merged.push((net, cfg)),
            }
        }
    }
    (Some(merged), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;
    use crate::plan::written;

    /// Each service with its networks.
    type Networks = Vec<(String, Vec<String>)>;

    /// The networks and the changes after assignment, or the error.
    fn assigned(compose: &str, policy: &str) -> Result<(Networks, Vec<String>)> {
        let w = World::new(compose, policy);
        w.run(|ctx| {
            let written = written::read(ctx)?;
            let drafts = assign(ctx, &written)?;
            let nets = drafts
                .iter()
                .map(|d| {
                    let n = d.attachments.iter().map(|a| a.network.clone()).collect();
                    (d.name.clone(), n)
                })
                .collect();
            Ok((nets, ctx.changes.iter().map(|c| c.change.clone()).collect()))
        })
    }

    fn networks(compose: &str, policy: &str) -> Networks {
        assigned(compose, policy).unwrap().0
    }

    #[test]
    fn a_service_without_networks_is_on_the_implicit_default() {
        let n = networks("services: {web: {}}", "");
        assert_eq!(n, [("web".to_owned(), vec!["default".to_owned()])]);
    }

    #[test]
    fn network_mode_services_get_no_networks() {
        let n = networks(
            "services: {vpn: {network_mode: host}, app: {network_mode: 'service:vpn'}}",
            "",
        );
        assert!(n.iter().all(|(_, nets)| nets.is_empty()), "{n:?}");
    }

    #[test]
    fn extends_in_the_same_file_brings_the_base_networks() {
        let n = networks(
            "services:\n  base: {networks: [back]}\n  api: {extends: base}\nnetworks: {back: {}}",
            "",
        );
        assert_eq!(n[1].1, ["back"]);
    }

    #[test]
    fn a_chain_of_extends_merges_the_networks_of_every_level() {
        let n = networks(
            "services:
  base: {networks: [back]}
  web: {extends: base, networks: [front]}
  job: {extends: web}
networks: {back: {}, front: {}}",
            "",
        );
        assert_eq!(n[1].1, ["back", "front"]);
        assert_eq!(n[2].1, ["back", "front"]);
    }

    #[test]
    fn an_extends_cycle_falls_back_to_the_default_network() {
        let n = networks("services:\n  a: {extends: b}\n  b: {extends: a}", "");
        assert_eq!(n[0].1, ["default"]);
    }

    #[test]
    fn the_policy_sets_networks_and_keeps_what_was_written_for_them() {
        let compose = "services:\n  api:\n    networks:\n      front: {aliases: [www], ipv4_address: 172.20.0.5}\nnetworks: {front: {}, back: {}}";
        let w = World::new(compose, "services: { api: { networks: [back, front] } }");
        w.run(|ctx| {
            let written = written::read(ctx).unwrap();
            let drafts = assign(ctx, &written).unwrap();
            let a = &drafts[0].attachments;
            assert_eq!(a[0], Attachment::written("back", None));
            assert_eq!(a[1].aliases, ["www"]);
            assert_eq!(a[1].ipv4_address.as_deref(), Some("172.20.0.5"));
            assert_eq!(drafts[0].as_written.len(), 1, "the written form is kept");
            assert_eq!(ctx.changes[0].change, "networks `front` → `back`, `front`");
        });
    }

    #[test]
    fn the_same_networks_from_the_policy_record_no_change() {
        let (_, changes) = assigned(
            "services: {api: {networks: [back]}}\nnetworks: {back: {}}",
            "services: { api: { networks: [back] } }",
        )
        .unwrap();
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn the_policy_cannot_give_a_network_mode_service_networks() {
        let e = assigned(
            "services: {vpn: {network_mode: host}}",
            "services: { vpn: { networks: [default] } }",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("/services/vpn/networks"), "{e}");
        assert!(e.contains("has `network_mode`"), "{e}");
    }

    #[test]
    fn an_undeclared_network_is_an_error_that_lists_the_declared_ones() {
        let e = assigned(
            "services: {api: {networks: [front, back]}}\nnetworks: {front: {}}",
            "",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("network `back`, which is not declared"), "{e}");
        assert!(e.contains("(declared: `front`)"), "{e}");
    }

    #[test]
    fn attachment_settings_are_read_from_either_form() {
        let compose = "services:\n  a: {networks: [x]}\n  b:\n    networks:\n      x: {aliases: [bee], ipv6_address: 'fd00::5'}\nnetworks: {x: {}}";
        let w = World::new(compose, "");
        w.run(|ctx| {
            let drafts = assign(ctx, &written::read(ctx).unwrap()).unwrap();
            assert_eq!(drafts[0].attachments, [Attachment::written("x", None)]);
            let b = &drafts[1].attachments[0];
            assert_eq!(b.aliases, ["bee"]);
            assert_eq!(b.ipv6_address.as_deref(), Some("fd00::5"));
            assert_eq!(b.ipv4_address, None);
        });
    }
}
