//! Escapes through the file's `networks:`: joining a network outside the fence, or a
//! driver that puts containers on the host's own network.

use crate::yaml::Value;

use super::{Context, Escape, Kind};
use crate::compose;
use crate::yaml::{scalar_string, untag, Mapping};

/// Drivers that keep a network to the containers on it.
const CONTAINED_DRIVERS: &[&str] = &["bridge", "overlay", "none"];

pub(super) fn check(doc: &Value, ctx: &Context<'_>, out: &mut Vec<Escape>) {
    let Some(nets) = compose::section(doc, "networks") else {
        return;
    };
    for (k, v) in nets {
        let Some(key) = scalar_string(k) else {
            continue;
        };
        let decl = untag(v).as_mapping().cloned().unwrap_or_default();
        let subject = format!("network {key}");
        if compose::is_external(&decl) {
            let name = compose::external_name(&key, &decl);
            if ctx.assigned.contains(&name) {
                continue;
            }
            let field = super::path(&["networks", &key, "external"], None);
            out.push(match foreign(&name, ctx) {
                Some(whose) => Escape::new(
                    Kind::ForeignNetwork,
                    subject,
                    field,
                    format!("external network `{name}` is {whose}: joining it reaches past this scope's fence"),
                    None,
                ),
                None => Escape::new(
                    Kind::ExternalNetwork,
                    subject,
                    field,
                    format!("external network `{name}` is not one the policy assigns: every container on it can reach this project's"),
                    Some(name),
                ),
            });
            continue;
        }
        bridge_options(&subject, &key, &decl, out);
        let Some(driver) = decl.get("driver").and_then(scalar_string) else {
            continue;
        };
        if !CONTAINED_DRIVERS.contains(&driver.to_ascii_lowercase().as_str()) {
            out.push(Escape::new(
                Kind::NetworkDriver,
                subject,
                super::path(&["networks", &key, "driver"], None),
                format!("driver `{driver}` attaches containers to the host's own network (or a plugin netfence cannot judge), outside any bridge it fences"),
                Some(driver),
            ));
        }
    }
}

/// Bridge driver options that change how the bridge meets the host: a bridge of the
/// host's own name, routing without NAT from anywhere (`gateway_mode_ipv4: routed` or
/// `nat-unprotected`), host interfaces trusted to reach in. Size and masquerading are
/// the network's own business.
fn bridge_options(subject: &str, key: &str, decl: &Mapping, out: &mut Vec<Escape>) {
    let Some(opts) = decl
        .get("driver_opts")
        .map(untag)
        .and_then(Value::as_mapping)
    else {
        return;
    };
    for (k, v) in opts {
        let (Some(opt), Some(value)) = (scalar_string(k), scalar_string(v)) else {
            continue;
        };
        let harmless = matches!(
            opt.as_str(),
            "com.docker.network.driver.mtu"
                | "com.docker.network.bridge.enable_ip_masquerade"
                | "com.docker.network.bridge.enable_icc"
                | "com.docker.network.container_iface_prefix"
        );
        if harmless || !opt.starts_with("com.docker.network.") {
            continue;
        }
        let mut at = super::path(&["networks", key, "driver_opts"], None);
        at.push(super::Part::Key(opt.clone()));
        out.push(Escape::new(
            Kind::NetworkDriver,
            subject,
            at,
            format!("driver option `{opt}: {value}` changes how the bridge meets the host (its name, its gateway's routing, who may reach in): netfence fences bridges as Docker makes them by default"),
            Some(opt),
        ));
    }
}

/// Whose the network is, when it is netfence's and not this deploy's: by the engine's
/// labels when known, else by the names netfence gives other scopes' networks.
pub(super) fn foreign(name: &str, ctx: &Context<'_>) -> Option<String> {
    if let Some(k) = ctx.known.iter().find(|k| k.name == name) {
        let role = k.role.as_deref().unwrap_or("managed");
        return Some(match (&k.scope, &k.project) {
            (Some(scope), Some(project)) => {
                format!("the {role} network of project `{project}` in {scope}")
            }
            (Some(scope), None) => format!("the {role} network of {scope}"),
            _ => format!("netfence's {role} network"),
        });
    }
    ctx.foreign_patterns
        .iter()
        .find(|p| p.matches(name))
        .map(|p| {
            format!(
                "named like netfence's {}s of other scopes and projects",
                p.what
            )
        })
}
