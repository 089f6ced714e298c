//! Rule 5: ports. A fixed host port allows one copy per host: `ephemeral` drops
//! it and keeps host IP, container port, range and protocol; `loopback` (the default for
//! runs and dev stacks) also binds to 127.0.0.1, so a test's database is not on the LAN;
//! `keep` (the default for environments) leaves it.

use crate::yaml::{Mapping, Value};

use crate::policy::PortsMode;
use crate::scope::Scope;

use super::ctx::Ctx;
use super::{swarm, PortChange};

/// The policy's ports mode, or the scope's default.
pub(super) fn mode(ctx: &Ctx<'_>, scope: &Scope) -> PortsMode {
    ctx.policy().ports.unwrap_or(if scope.is_env() {
        PortsMode::Keep
    } else {
        PortsMode::Loopback
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
        let mut after = crate::port_spec::rewrite(p, mode);
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
            PortsMode::Loopback => "fixed host ports collide across copies; Docker picks a free one, bound to 127.0.0.1 so that it is not open to the LAN (policy `ports: ephemeral` publishes on every address)",
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
pub(super) fn show(v: &Value) -> String {
    match v {
        Value::Scalar(_) if v.is_string() => format!("\"{}\"", v.as_str().unwrap_or_default()),
        Value::Scalar(_) if v.is_number() => crate::yaml::scalar_string(v).unwrap_or_default(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;

    const COMPOSE: &str = "services:\n  db:\n    ports: [\"${DEV_POSTGRES_PORT:-5433}:5432\", \"127.0.0.1:8000:8000\", 9000]\n  api:\n    ports:\n      - {target: 80, published: 8080, protocol: tcp}";

    /// Per service: the ports after, and the changes.
    fn planned(w: &World) -> (Vec<Vec<Value>>, Vec<String>) {
        w.run(|ctx| {
            let scope = ctx.opts.scope.clone().unwrap();
            let mode = mode(ctx, &scope);
            let svcs = crate::compose::services(&w.doc);
            let out = svcs
                .iter()
                .map(|(name, svc)| {
                    let p = plan(ctx, name, svc, mode);
                    p.into_iter().map(|p| p.after).collect()
                })
                .collect();
            (out, ctx.changes.iter().map(|c| c.change.clone()).collect())
        })
    }

    fn s(v: &str) -> Value {
        Value::from(v)
    }

    #[test]
    fn ephemeral_drops_host_ports_and_keeps_the_rest() {
        let (out, changes) = planned(&World::new(COMPOSE, "ports: ephemeral"));
        assert_eq!(out[0], [s("5432"), s("127.0.0.1::8000")]);
        let long: Value = crate::yaml::from_str("{target: 80, protocol: tcp}").unwrap();
        assert_eq!(out[1], [long]);
        assert_eq!(
            changes[0],
            "ports \"${DEV_POSTGRES_PORT:-5433}:5432\" → \"5432\", \"127.0.0.1:8000:8000\" → \"127.0.0.1::8000\""
        );
        assert!(
            changes[1].contains("{\"target\":80,\"protocol\":\"tcp\"}"),
            "{}",
            changes[1]
        );
    }

    #[test]
    fn an_environment_keeps_ports() {
        let (out, changes) = planned(&World::new(COMPOSE, "").env("prod"));
        assert!(out.iter().all(Vec::is_empty), "{out:?}");
        assert!(changes.is_empty());
    }

    #[test]
    fn a_run_binds_to_127_0_0_1_unless_the_policy_says_ephemeral() {
        for policy in ["", "ports: loopback"] {
            let (out, _) = planned(&World::new(COMPOSE, policy));
            assert_eq!(out[0][0], s("127.0.0.1::5432"), "policy {policy:?}");
        }
    }

    #[test]
    fn swarm_drops_host_ips_even_under_loopback() {
        let (out, changes) = planned(&World::new(COMPOSE, "ports: loopback").swarm());
        assert_eq!(out[0], [s("5432"), s("8000")]);
        assert!(changes[0].starts_with("ports"), "{changes:?}");
    }
}
