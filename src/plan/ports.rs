//! Rule 5 (SPEC §3): ports. A fixed host port allows one copy per host: `ephemeral` (the
//! default for runs) drops it and keeps host IP, container port, range and protocol;
//! `keep` (the default for environments) leaves it; `loopback` also binds to 127.0.0.1.

use serde_yaml_ng::{Mapping, Value};

use crate::policy::PortsMode;
use crate::scope::Scope;

use super::ctx::Ctx;
use super::{swarm, PortChange};

/// The policy's ports mode, or the scope's default.
pub(super) fn mode(ctx: &Ctx<'_>, scope: &Scope) -> PortsMode {
    ctx.policy().ports.unwrap_or(if scope.is_env() {
        PortsMode::Keep
    } else {
        PortsMode::Ephemeral
    })
}

/// The port entries of one service that change, each with what it becomes.
pub(super) fn plan(
    ctx: &mut Ctx<'_>,
    service: &str,
    svc: &Mapping,
    mode: PortsMode,
) -> Vec<PortChange> {
    let Some(Value::Sequence(list)) = svc.get("ports").map(crate::yaml::untag) else {
        return Vec::new();
    };
    let swarm = ctx.swarm();
    let mode = if swarm { swarm::ports_mode(mode) } else { mode };
    let mut ports = Vec::new();
    for p in list {
        let mut after = crate::ports::rewrite(p, mode);
        if swarm {
            after = swarm::port(after.as_ref().unwrap_or(p)).or(after);
        }
        if let Some(after) = after {
            ports.push(PortChange {
                before: p.clone(),
                after,
            });
        }
    }
    if !ports.is_empty() {
        let why = match mode {
            PortsMode::Loopback => "fixed host ports collide across copies; Docker picks a free one, bound to 127.0.0.1 (policy ports: loopback)",
            _ if swarm => "swarm publishes on every node: fixed host ports and host IPs are dropped",
            _ => "fixed host ports collide across copies; Docker picks a free one (see `netfence run` for where)",
        };
        let desc: Vec<String> = ports
            .iter()
            .map(|p| format!("{} → {}", show(&p.before), show(&p.after)))
            .collect();
        ctx.change(
            format!("service {service}"),
            format!("ports {}", desc.join(", ")),
            why,
        );
    }
    ports
}

/// A port entry as the change list shows it: short syntax quoted, long syntax as JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}
