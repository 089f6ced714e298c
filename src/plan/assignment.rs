//! Rule 6 (SPEC §3): service assignment. Each service keeps the attachments it was
//! written with (following same-file `extends`) unless the policy's `services:` sets its
//! networks; `network_mode` services are never given networks.

use std::collections::BTreeSet;

use indexmap::IndexMap;
use serde_yaml_ng::{Mapping, Value};

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
/// `network_mode`.
fn written_attachments(
    name: &str,
    services: &IndexMap<String, &Mapping>,
) -> (Option<Entries>, Option<String>) {
    let mut current = name.to_owned();
    let mut seen = BTreeSet::new();
    loop {
        let Some(svc) = services.get(&current) else {
            return (None, None);
        };
        if let Some(mode) = compose::network_mode(svc) {
            return (None, Some(mode));
        }
        if let Some(a) = compose::attachments(svc) {
            return (Some(a), None);
        }
        match compose::extends_base(svc) {
            Some(base) if seen.insert(base.clone()) => current = base,
            _ => return (None, None),
        }
    }
}
