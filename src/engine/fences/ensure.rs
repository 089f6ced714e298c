//! `netfence ensure --env NAME`: creates the networks an environment shares across its
//! projects (the environment network, the proxy network, shared networks), so that the
//! output of `rewrite --env NAME` deploys with a plain `docker compose up -d`.
//!
//! Safe to run on every deploy, and several at once: the engine itself happily creates
//! two networks of one name when two creators race, so every creator lists the name again
//! after creating and removes all but one, chosen by an order every racer agrees on
//! (networks with containers first, then the oldest, then the lowest id). A per-host limit
//! on netfence-managed networks is checked before anything is created.

use std::collections::HashMap;

use serde::Serialize;

use crate::engine::client::docker::{
    done_if_gone, found, ApiResult, EndpointConfig, FixedAddress, LiveNetwork,
};
use crate::engine::{Engine, EngineError, EngineResult};
use crate::error::Source;
use crate::input::InputSpec;
use crate::labels;
use crate::plan::{role_name, NetworkPlan};
use crate::Project;

/// What `ensure` did with one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Status {
    Created,
    Exists,
    /// Live settings differ from the plan; left as it is.
    Differs {
        differences: Vec<String>,
        /// Why `--recreate` did not (or would not) replace it.
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Replaced, its containers reconnected.
    Recreated {
        differences: Vec<String>,
        reconnected: Vec<String>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Ensured {
    pub name: String,
    pub role: &'static str,
    #[serde(flatten)]
    pub status: Status,
}

/// The persistent networks (environment, proxy, shared) of a plan: what `ensure` makes.
pub fn persistent_networks(plan: &crate::Plan) -> Vec<NetworkPlan> {
    plan.networks
        .iter()
        .filter(|n| n.role.is_persistent())
        .cloned()
        .collect()
}

/// The compose input, or — with no compose files named — the policy alone: the
/// persistent networks do not depend on the services, so an empty file stands in, and the
/// policy's references to services are dropped (they would name unknown services).
pub fn load_project(input: &InputSpec, scope: Option<&crate::Scope>) -> crate::Result<Project> {
    if input.files.is_named() {
        return input.load(scope);
    }
    let mut project = policy_alone(input, scope)?;
    without_services(&mut project.policy.policy);
    Ok(project)
}

/// Drops a policy's references to services, for planning it over an empty file.
pub fn without_services(p: &mut crate::Policy) {
    p.services.clear();
    p.environment.exclude.clear();
    for sh in p.shared.values_mut() {
        sh.services = Default::default();
    }
    if let Some(proxy) = &mut p.proxy {
        proxy.services = Default::default();
    }
}

/// The policy (found as for any command) over an empty compose file, its references to
/// services kept. Plan it only after [`without_services`].
pub fn policy_alone(input: &InputSpec, scope: Option<&crate::Scope>) -> crate::Result<Project> {
    let empty = crate::load::ComposeInput::from_str(Source::BuiltIn, "services: {}\n")?;
    Project::for_scope(empty, input.policy.as_deref(), &input.working_dir, scope)
}

/// One line per network: `created  environment  nf-env-staging`.
pub fn describe(r: &Ensured) -> String {
    let head = |word: &str| format!("{word:<10} {:<12} {}", r.role, r.name);
    match &r.status {
        Status::Created => head("created"),
        Status::Exists => head("exists"),
        Status::Differs { differences, note } => format!(
            "{}: {}{}",
            head("differs"),
            differences.join("; "),
            note.as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ),
        Status::Recreated {
            differences,
            reconnected,
        } => format!(
            "{}: {}; reconnected {}",
            head("recreated"),
            differences.join("; "),
            if reconnected.is_empty() {
                "no containers".to_owned()
            } else {
                reconnected.join(", ")
            }
        ),
    }
}

/// How many networks on the engine carry `io.netfence.managed=true`.
pub async fn managed_count(engine: &Engine) -> EngineResult<usize> {
    let managed = [format!("{}=true", labels::MANAGED)];
    Ok(engine.networks_labelled(&managed).await?.len())
}

/// Refuses, before anything is created, when creating `missing` would take the engine
/// past `limit` netfence-managed networks.
pub async fn check_limit(
    engine: &Engine,
    missing: &[&NetworkPlan],
    limit: u32,
) -> EngineResult<()> {
    if missing.is_empty() {
        return Ok(());
    }
    let have = managed_count(engine).await?;
    if have + missing.len() > limit as usize {
        let names: Vec<&str> = missing.iter().map(|n| n.name.as_str()).collect();
        return Err(EngineError::refused(format!(
            "refusing to create {} network(s) ({}): the engine already has {have} netfence-managed network(s) and limits.max_networks is {limit}; nothing was created (remove unused ones with `netfence gc` or `netfence down --env NAME`, or raise limits.max_networks)",
            missing.len(),
            names.join(", ")
        )));
    }
    Ok(())
}

/// Creates what is missing, reports what differs, and with `recreate` replaces what
/// differs (only networks netfence owns).
pub async fn ensure_networks(
    engine: &Engine,
    nets: &[NetworkPlan],
    recreate: bool,
    limit: u32,
) -> EngineResult<Vec<Ensured>> {
    let mut live: Vec<Option<LiveNetwork>> = Vec::new();
    for np in nets {
        live.push(live_network(engine, &np.name).await?);
    }
    let missing: Vec<&NetworkPlan> = nets
        .iter()
        .zip(&live)
        .filter(|(_, l)| l.is_none())
        .map(|(n, _)| n)
        .collect();
    check_limit(engine, &missing, limit).await?;
    let mut out = Vec::new();
    for (np, live) in nets.iter().zip(live) {
        let role = role_name(np.role);
        let status = match live {
            None => {
                if create_one(engine, np).await? {
                    Status::Created
                } else {
                    Status::Exists
                }
            }
            Some(live) => {
                let differences = differences(np, &live);
                if differences.is_empty() {
                    Status::Exists
                } else if !owned(&live) {
                    Status::Differs {
                        differences,
                        note: Some("not created by netfence, so --recreate leaves it alone".into()),
                    }
                } else if !recreate {
                    Status::Differs {
                        differences,
                        note: Some("--recreate replaces it, reconnecting its containers".into()),
                    }
                } else {
                    let reconnected = replace(engine, np, &live).await?;
                    Status::Recreated {
                        differences,
                        reconnected,
                    }
                }
            }
        };
        out.push(Ensured {
            name: np.name.clone(),
            role,
            status,
        });
    }
    Ok(out)
}

fn owned(live: &LiveNetwork) -> bool {
    live.label(labels::MANAGED) == Some("true")
}

/// The network of this name (after settling duplicates), inspected.
pub async fn live_network(engine: &Engine, name: &str) -> EngineResult<Option<LiveNetwork>> {
    let Some(id) = settle_duplicates(engine, name).await? else {
        return Ok(None);
    };
    found(engine.inspect_network(&id).await)
        .map_err(|e| e.doing(format!("inspecting network {name}")))
}

/// Creates a persistent network unless one of its name exists; afterwards exactly one of
/// that name is left even when others raced. True when this call's network is the one.
pub async fn create_one(engine: &Engine, np: &NetworkPlan) -> EngineResult<bool> {
    if !engine.networks_named(&np.name).await?.is_empty() {
        settle_duplicates(engine, &np.name).await?;
        return Ok(false);
    }
    let mine = create_raw(engine, np).await?;
    let kept = settle_duplicates(engine, &np.name).await?;
    engine
        .settle_isolation(std::slice::from_ref(&np.name))
        .await?;
    Ok(mine.is_some() && kept == mine)
}

/// One `POST /networks/create` with the plan's settings and a creation time; the new id,
/// or `None` when the engine already holds a network of that name (a concurrent creator
/// won: current engines refuse the second, where 20.10 made a duplicate).
pub async fn create_raw(engine: &Engine, np: &NetworkPlan) -> EngineResult<Option<String>> {
    let mut labels: HashMap<String, String> = np.labels.clone().into_iter().collect();
    labels.insert(labels::CREATED.to_owned(), crate::engine::now_rfc3339());
    let subnets: Vec<ipnet::IpNet> = [np.subnet, np.subnet6].into_iter().flatten().collect();
    match engine.create_network(np, &subnets, labels).await {
        Ok(id) => Ok(Some(id)),
        Err(e) if e.is_conflict() => Ok(None),
        Err(e) => Err(e.doing(format!("creating network {}", np.name))),
    }
}

/// Removes all but one network named `name`; returns the id of the one kept.
///
/// Every racer sorts the same candidates the same way — networks with containers
/// first (never orphan a running service), then the oldest, then the lowest id — so all
/// of them remove the same duplicates, whichever of them looks last.
pub async fn settle_duplicates(engine: &Engine, name: &str) -> EngineResult<Option<String>> {
    let ids = engine.networks_named(name).await?;
    if ids.len() <= 1 {
        return Ok(ids.into_iter().next());
    }
    let mut ranked = Vec::new();
    for id in &ids {
        let inspected = found(engine.inspect_network(id).await)
            .map_err(|e| e.doing(format!("inspecting network {name}")))?;
        if let Some(n) = inspected {
            let created = n
                .created
                .as_deref()
                .map(created_key)
                .unwrap_or((i64::MAX, 0));
            ranked.push((n.containers.is_empty(), created, id.clone()));
        }
    }
    ranked.sort();
    let Some((_, _, keep)) = ranked.first().cloned() else {
        return Ok(None);
    };
    for (empty, _, id) in ranked.iter().skip(1) {
        if !empty {
            tracing::warn!("network {name}: duplicate {id} has containers; left in place");
            continue;
        }
        tracing::info!("network {name}: removing duplicate {id} (keeping {keep})");
        if let Err(e) = done_if_gone(engine.remove_network(id).await) {
            tracing::warn!("network {name}: removing duplicate {id}: {e}");
        }
    }
    Ok(Some(keep))
}

/// Sortable (seconds, nanoseconds) of Go's RFC 3339 times: `2026-11-21T23:42:57.9686Z`
/// or with an offset. Go trims trailing zeros of the fraction, so the text itself does
/// not sort.
pub fn created_key(s: &str) -> (i64, u32) {
    let s = s.trim();
    let Some(head) = s.get(..19) else {
        return (i64::MAX, 0);
    };
    let Ok(t) = humantime::parse_rfc3339_weak(head) else {
        return (i64::MAX, 0);
    };
    let mut secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
        rest = &frac[digits.len()..];
        let padded = format!("{:0<9}", &digits[..digits.len().min(9)]);
        nanos = padded.parse().unwrap_or(0);
    }
    let sign = match rest.chars().next() {
        Some('+') => 1,
        Some('-') => -1,
        _ => 0,
    };
    if sign != 0 {
        let hm: Vec<i64> = rest[1..]
            .split(':')
            .filter_map(|p| p.parse().ok())
            .collect();
        if let [h, m] = hm[..] {
            secs -= sign * (h * 3600 + m * 60);
        }
    }
    (secs, nanos)
}

/// How a live network differs from the plan: driver, internal, attachable, IPv6,
/// subnet, and (for networks netfence owns) the plan's labels.
pub fn differences(np: &NetworkPlan, live: &LiveNetwork) -> Vec<String> {
    let mut out = Vec::new();
    let want_driver = np.driver.clone().unwrap_or_else(|| "bridge".into());
    let live_driver = &live.driver;
    if want_driver != *live_driver {
        out.push(format!("driver: live {live_driver}, plan {want_driver}"));
    }
    let flag = |name: &str, live: bool, plan: bool, out: &mut Vec<String>| {
        if live != plan {
            out.push(format!("{name}: live {live}, plan {plan}"));
        }
    };
    flag("internal", live.internal, np.internal, &mut out);
    // `attachable` only means something on overlay networks; platforms create their
    // bridge networks with it anyway (`docker network create --attachable coolify`).
    if want_driver == "overlay" {
        flag("attachable", live.attachable, np.attachable, &mut out);
    }
    flag("enable_ipv6", live.enable_ipv6, np.enable_ipv6, &mut out);
    let live_subnets = &live.subnets;
    for want in [np.subnet, np.subnet6].into_iter().flatten() {
        if !live_subnets.iter().any(|s| *s == want.to_string()) {
            out.push(format!(
                "subnet: live {}, plan {want}",
                if live_subnets.is_empty() {
                    "(none)".to_owned()
                } else {
                    live_subnets.join(",")
                }
            ));
        }
    }
    if owned(live) {
        for (k, v) in &np.labels {
            match live.labels.get(k) {
                Some(l) if l == v => {}
                Some(l) => out.push(format!("label {k}: live `{l}`, plan `{v}`")),
                None => out.push(format!("label {k}: missing, plan `{v}`")),
            }
        }
    }
    out
}

/// Replaces a live network with the plan's: disconnects its containers, removes it,
/// creates the new one, reconnects each container with its aliases (and its static
/// address when it fits the new network). Returns the reconnected containers' names.
async fn replace(
    engine: &Engine,
    np: &NetworkPlan,
    live: &LiveNetwork,
) -> EngineResult<Vec<String>> {
    let id = if live.id.is_empty() {
        np.name.clone()
    } else {
        live.id.clone()
    };
    let attached = attachments(engine, np, live).await?;
    for a in &attached {
        engine
            .disconnect_network(&id, &a.id, true)
            .await
            .map_err(|e| e.doing(format!("disconnecting {} from {}", a.name, np.name)))?;
    }
    done_if_gone(engine.remove_network(&id).await)
        .map_err(|e| e.doing(format!("removing network {id}")))?;
    create_raw(engine, np).await?;
    let new_id = settle_duplicates(engine, &np.name)
        .await?
        .unwrap_or_else(|| np.name.clone());
    reconnect(engine, np, &new_id, attached).await
}

/// A container attached to a network, and how to attach it again.
struct Attached {
    id: String,
    name: String,
    endpoint: EndpointConfig,
}

/// The containers on a live network, by name, each with its aliases there (less the
/// short id the engine adds by itself) and its static address.
async fn attachments(
    engine: &Engine,
    np: &NetworkPlan,
    live: &LiveNetwork,
) -> EngineResult<Vec<Attached>> {
    let mut members: Vec<(&String, &String)> = live.containers.iter().collect();
    members.sort_by(|a, b| a.1.cmp(b.1));
    let mut out = Vec::new();
    for (cid, name) in members {
        let name = if name.is_empty() { cid } else { name };
        let inspect = engine
            .inspect_container(cid)
            .await
            .map_err(|e| e.doing(format!("inspecting container {name}")))?;
        let ep = inspect.networks.get(&np.name).cloned().unwrap_or_default();
        let short: String = cid.chars().take(12).collect();
        out.push(Attached {
            id: cid.clone(),
            name: name.clone(),
            endpoint: EndpointConfig {
                aliases: ep.aliases.into_iter().filter(|a| *a != short).collect(),
                fixed: ep.fixed,
            },
        });
    }
    Ok(out)
}

/// Connects each container to the new network; a static address that does not fit it
/// is dropped (with a warning) rather than the container left off.
async fn reconnect(
    engine: &Engine,
    np: &NetworkPlan,
    network: &str,
    attached: Vec<Attached>,
) -> EngineResult<Vec<String>> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for Attached { id, name, endpoint } in attached {
        match connect(engine, network, &id, &endpoint).await {
            Ok(()) => done.push(name),
            Err(first) if endpoint.fixed.is_some() => {
                let plain = EndpointConfig {
                    fixed: None,
                    ..endpoint
                };
                match connect(engine, network, &id, &plain).await {
                    Ok(()) => {
                        tracing::warn!("{name}: static address dropped on {}: {first}", np.name);
                        done.push(name)
                    }
                    Err(e) => failed.push(format!("{name}: {e}")),
                }
            }
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    if !failed.is_empty() {
        return Err(EngineError::incomplete(format!(
            "network {} recreated, but reconnecting failed for {}",
            np.name,
            failed.join("; ")
        )));
    }
    Ok(done)
}

/// `docker network connect` through the API; "already attached" counts as done.
pub async fn connect(
    engine: &Engine,
    network: &str,
    container: &str,
    endpoint: &EndpointConfig,
) -> ApiResult<()> {
    match engine.connect_network(network, container, endpoint).await {
        Err(e) if e.is_already_attached() => Ok(()),
        r => r,
    }
}

/// An endpoint with these aliases and, when given, a static address.
pub fn endpoint(aliases: &[String], ipv4: Option<&str>) -> EndpointConfig {
    EndpointConfig {
        aliases: aliases.to_vec(),
        fixed: ipv4.map(|a| FixedAddress {
            ipv4: Some(a.to_owned()),
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Role;

    fn planned(driver: &str) -> NetworkPlan {
        let mut labels = indexmap::IndexMap::new();
        labels.insert(labels::MANAGED.to_owned(), "true".to_owned());
        labels.insert(labels::ROLE.to_owned(), "proxy".to_owned());
        NetworkPlan {
            key: "netfence-proxy".into(),
            name: "proxy".into(),
            role: Role::Proxy,
            driver: Some(driver.into()),
            internal: false,
            attachable: driver == "overlay",
            enable_ipv6: false,
            subnet: None,
            gateway: None,
            labels,
            driver_opts: Default::default(),
            original_name: None,
            original_subnet: None,
            subnet6: None,
            original_subnet6: None,
        }
    }

    fn live(driver: &str, labels: &[(&str, &str)]) -> LiveNetwork {
        LiveNetwork {
            driver: driver.into(),
            internal: false,
            attachable: driver == "overlay",
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_matching_network_has_no_differences() {
        let l = live(
            "bridge",
            &[(labels::MANAGED, "true"), (labels::ROLE, "proxy")],
        );
        assert!(differences(&planned("bridge"), &l).is_empty());
    }

    #[test]
    fn a_platforms_attachable_bridge_is_not_drift() {
        let mut l = live("bridge", &[]);
        l.attachable = true;
        assert!(differences(&planned("bridge"), &l).is_empty());
        let mut l = live("overlay", &[]);
        l.attachable = false;
        assert_eq!(
            differences(&planned("overlay"), &l),
            vec!["attachable: live false, plan true"]
        );
    }

    #[test]
    fn settings_and_owned_labels_are_compared() {
        let mut l = live(
            "bridge",
            &[(labels::MANAGED, "true"), (labels::ROLE, "shared")],
        );
        l.internal = true;
        assert_eq!(
            differences(&planned("bridge"), &l),
            vec![
                "internal: live true, plan false".to_owned(),
                format!("label {}: live `shared`, plan `proxy`", labels::ROLE),
            ]
        );
        // Someone else's network: its labels are its own business.
        let l = live("macvlan", &[("com.example", "x")]);
        assert_eq!(
            differences(&planned("bridge"), &l),
            vec!["driver: live macvlan, plan bridge"]
        );
    }

    #[test]
    fn created_key_orders_go_times() {
        // Go trims trailing zeros: ".12345" is earlier than ".1234567".
        assert!("2026-11-21T23:40:46.12345Z" > "2026-11-21T23:40:46.1234567Z");
        assert!(
            created_key("2026-11-21T23:40:46.12345Z") < created_key("2026-11-21T23:40:46.1234567Z")
        );
        assert!(created_key("2026-11-21T23:40:46.1Z") < created_key("2026-11-21T23:40:46.2Z"));
        assert_eq!(
            created_key("2026-11-21T23:40:46+01:00"),
            created_key("2026-11-21T22:40:46Z")
        );
        assert_eq!(created_key("garbage"), (i64::MAX, 0));
    }
}
