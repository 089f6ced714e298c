//! Rule 10: the Swarm target. Networks become attachable overlays (optionally
//! encrypted), ports lose what the routing mesh refuses, and proxy labels move to the
//! service, where Swarm providers read them.

use crate::yaml::{Mapping, Value};

use crate::policy::{NetworkSettings, PortsMode};
use crate::proxy_labels::is_proxy_label;

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
        Value::Scalar(scalar) if p.is_string() => {
            let mut sp = crate::port_spec::ShortPort::parse(scalar.text());
            sp.host_ip.take()?;
            Some(Value::Scalar(
                crate::yaml::Scalar::string(sp.render()).with_quotes_of(scalar),
            ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;

    fn value(yaml: &str) -> Value {
        crate::yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn host_ips_are_dropped_in_either_syntax() {
        assert_eq!(port(&value("'127.0.0.1::80'")), Some(value("'80'")));
        assert_eq!(
            port(&value("{target: 80, host_ip: 127.0.0.1}")),
            Some(value("{target: 80}"))
        );
        assert_eq!(port(&value("'8080:80'")), None, "nothing to drop");
    }

    #[test]
    fn loopback_means_ephemeral_on_the_mesh() {
        assert_eq!(ports_mode(PortsMode::Loopback), PortsMode::Ephemeral);
        assert_eq!(ports_mode(PortsMode::Keep), PortsMode::Keep);
    }

    #[test]
    fn an_overlay_is_attachable_and_encrypted_when_asked() {
        let w = World::new("services: {}", "").swarm();
        let mut net = NetworkPlan {
            key: "back".into(),
            name: "nf-r1-back".into(),
            role: super::super::Role::Managed,
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
        };
        let settings = NetworkSettings {
            encrypted: Some(true),
            ..Default::default()
        };
        let changes = w.run(|ctx| {
            overlay(ctx, &mut net, &settings);
            overlay(ctx, &mut net, &settings);
            ctx.changes.len()
        });
        assert_eq!(net.driver.as_deref(), Some("overlay"));
        assert!(net.attachable);
        assert!(net.driver_opts.contains_key("encrypted"));
        assert_eq!(changes, 1, "an overlay already is one");
    }

    #[test]
    fn container_proxy_labels_are_noted_only_for_swarm() {
        let svc: Mapping = value("{labels: [traefik.enable=true]}")
            .as_mapping()
            .cloned()
            .unwrap();
        let count = |w: World| {
            w.run(|ctx| {
                note_moved_labels(ctx, "web", &svc);
                ctx.changes.len()
            })
        };
        assert_eq!(count(World::new("services: {}", "").swarm()), 1);
        assert_eq!(count(World::new("services: {}", "")), 0);
    }
}
