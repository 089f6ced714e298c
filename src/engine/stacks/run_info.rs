//! What `run` hands to CMD: the `NETFENCE_*` variables and the run-info JSON file
//! (networks, subnets, each container's addresses, aliases and published ports).

use std::collections::BTreeMap;

use futures_util::future::join_all;
use serde::Serialize;

use crate::engine::client::docker::{self, Container};
use crate::engine::{Engine, EngineResult};
use crate::plan::Plan;

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub run_id: String,
    pub scope: String,
    pub project: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub networks: Vec<NetworkInfo>,
    /// Service name → its containers (more than one with `scale`/`replicas`).
    pub services: BTreeMap<String, Vec<ContainerInfo>>,
}

impl RunInfo {
    /// `host:port` to reach `service`'s published TCP `container_port` from this machine:
    /// its first container's first binding (IPv4 first), as `NETFENCE_<SERVICE>_<PORT>`.
    pub fn address(&self, service: &str, container_port: u16) -> Option<&str> {
        self.services
            .get(service)?
            .iter()
            .flat_map(|c| &c.ports)
            .find(|p| p.container_port == container_port && p.protocol == "tcp")
            .map(|p| p.address.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkInfo {
    pub key: String,
    pub name: String,
    pub role: crate::plan::Role,
    pub internal: bool,
    pub subnet: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerInfo {
    pub name: String,
    pub id: String,
    /// Real network name → attachment.
    pub networks: BTreeMap<String, Endpoint>,
    pub ports: Vec<Published>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub ip: Option<String>,
    pub ipv6: Option<String>,
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Published {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: String,
    pub host_port: u16,
    /// `host:port` to connect to from this machine.
    pub address: String,
}

/// Reads the live state of a run's containers.
pub async fn collect(engine: &Engine, plan: &Plan, index: Option<usize>) -> EngineResult<RunInfo> {
    let list = engine.project_containers(&plan.project_name, true).await?;
    let inspected = join_all(list.iter().map(|c| engine.inspect_container(&c.id))).await;
    let mut services: BTreeMap<String, Vec<ContainerInfo>> = BTreeMap::new();
    for c in inspected {
        let c = c.map_err(|e| e.doing("inspecting a container"))?;
        let service = c.service().unwrap_or_default().to_owned();
        services.entry(service).or_default().push(container_info(c));
    }
    for v in services.values_mut() {
        v.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(RunInfo {
        run_id: plan.scope.id().to_owned(),
        scope: plan.scope.to_string(),
        project: plan.project_name.clone(),
        index,
        networks: network_infos(plan),
        services,
    })
}

fn container_info(c: Container) -> ContainerInfo {
    let networks = c
        .networks
        .into_iter()
        .map(|(name, ep)| (name, Endpoint::from(ep)))
        .collect();
    let mut ports: Vec<Published> = c.published.into_iter().map(Published::from).collect();
    ports.sort_by(|a, b| {
        (a.container_port, &a.protocol, a.host_ip.contains(':')).cmp(&(
            b.container_port,
            &b.protocol,
            b.host_ip.contains(':'),
        ))
    });
    ContainerInfo {
        name: c.name,
        id: c.id,
        networks,
        ports,
    }
}

impl From<docker::Endpoint> for Endpoint {
    fn from(ep: docker::Endpoint) -> Endpoint {
        Endpoint {
            ip: ep.ip,
            ipv6: ep.ipv6,
            aliases: ep.aliases,
        }
    }
}

impl From<docker::Binding> for Published {
    fn from(b: docker::Binding) -> Published {
        Published {
            container_port: b.container_port,
            address: address(&b.host_ip, b.host_port),
            protocol: b.protocol,
            host_ip: b.host_ip,
            host_port: b.host_port,
        }
    }
}

/// The plan's networks: `run` creates each managed one exactly as planned.
fn network_infos(plan: &Plan) -> Vec<NetworkInfo> {
    plan.networks
        .iter()
        .map(|n| NetworkInfo {
            key: n.key.clone(),
            name: n.name.clone(),
            role: n.role,
            internal: n.internal,
            subnet: n.subnet.map(|s| s.to_string()),
        })
        .collect()
}

/// Where to connect from this machine: a wildcard binding is reached on loopback.
fn address(host_ip: &str, port: u16) -> String {
    match host_ip {
        "" | "0.0.0.0" => format!("127.0.0.1:{port}"),
        "::" => format!("[::1]:{port}"),
        ip if ip.contains(':') => format!("[{ip}]:{port}"),
        ip => format!("{ip}:{port}"),
    }
}

/// `NETFENCE_<SERVICE>_<PORT>`: upper-cased, every non-alphanumeric as `_`.
pub fn var_name(service: &str, port: u16, protocol: &str) -> String {
    let svc: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if protocol == "tcp" {
        format!("NETFENCE_{svc}_{port}")
    } else {
        format!("NETFENCE_{svc}_{port}_{}", protocol.to_ascii_uppercase())
    }
}

/// The variables CMD gets (besides `NETFENCE_RUN_INFO` and `NETFENCE_INDEX`). For a
/// service with several containers or bindings, the first one (IPv4 first) wins.
pub fn exports(info: &RunInfo) -> Vec<(String, String)> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (service, containers) in &info.services {
        for c in containers {
            for p in &c.ports {
                out.entry(var_name(service, p.container_port, &p.protocol))
                    .or_insert_with(|| p.address.clone());
            }
        }
    }
    let mut v = vec![
        ("NETFENCE_RUN_ID".to_owned(), info.run_id.clone()),
        ("NETFENCE_PROJECT".to_owned(), info.project.clone()),
    ];
    v.extend(out);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses() {
        assert_eq!(var_name("web-api", 8080, "tcp"), "NETFENCE_WEB_API_8080");
        assert_eq!(var_name("dns.x", 53, "udp"), "NETFENCE_DNS_X_53_UDP");
        assert_eq!(address("0.0.0.0", 5), "127.0.0.1:5");
        assert_eq!(address("127.0.0.1", 5), "127.0.0.1:5");
        assert_eq!(address("::", 5), "[::1]:5");
    }
}
