//! Rule 10 (SPEC §3): the Swarm target. Networks become attachable overlays (optionally
//! encrypted), ports lose what the routing mesh refuses, and proxy labels move to the
//! service, where Swarm providers read them.

use serde_yaml_ng::{Mapping, Value};

use crate::policy::{NetworkSettings, PortsMode};
use crate::proxy::is_proxy_label;

use super::ctx::Ctx;
use super::NetworkPlan;

/// Makes a managed network a Swarm overlay.
pub(super) fn overlay(ctx: &mut Ctx<'_>, net: &mut NetworkPlan, settings: &NetworkSettings) {
    if net.driver.as_deref() != Some("overlay") {
        ctx.change(
            format!("network {}", net.key),
            "driver overlay, attachable",
            "swarm target",
        );
    }
    net.driver = Some("overlay".into());
    net.attachable = true;
    if settings.encrypted == Some(true) {
        net.driver_opts.insert("encrypted".into(), String::new());
    }
}

/// The routing mesh publishes on every node: binding to loopback means nothing there.
pub(super) fn ports_mode(mode: PortsMode) -> PortsMode {
    if mode == PortsMode::Loopback {
        PortsMode::Ephemeral
    } else {
        mode
    }
}

/// Swarm publishes through its routing mesh: a host IP is not allowed.
pub(super) fn port(p: &Value) -> Option<Value> {
    match p {
        Value::String(s) => {
            let mut sp = crate::ports::ShortPort::parse(s);
            sp.host_ip.take()?;
            Some(Value::String(sp.render()))
        }
        Value::Mapping(m) if m.contains_key("host_ip") => {
            let mut m = m.clone();
            m.shift_remove("host_ip");
            Some(Value::Mapping(m))
        }
        _ => None,
    }
}

/// Records that a service's container proxy labels move to `deploy.labels` (the rewrite
/// moves them).
pub(super) fn note_moved_labels(ctx: &mut Ctx<'_>, service: &str, svc: &Mapping) {
    let on_container = crate::labels::entries(svc.get("labels"))
        .iter()
        .any(|(k, _)| is_proxy_label(k));
    if ctx.swarm() && on_container {
        ctx.change(
            format!("service {service}"),
            "proxy labels moved to deploy.labels",
            "Traefik's and caddy's Swarm providers read the service's labels, not the container's",
        );
    }
}
