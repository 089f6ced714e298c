//! `netfence ls`: the host's inventory as netfence sees it. The engine is read once
//! ([`observe`]); what it means is decided by the pure [`build`]: live scopes with their
//! projects, containers, networks and published ports (for runs, the owner and whether
//! it is alive), managed and unmanaged networks, the use of `limits.max_networks`, of
//! the policy's pool and of the daemon's default address pools, and the orphans `gc`
//! would take (its own [`select`](crate::engine::host::gc::select)).
//!
//! The JSON form is for platforms: its field names are stable (README, "Operating a
//! host"); fields are added, never renamed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use ipnet::IpNet;
use serde::Serialize;

use crate::avoid::Avoid;
use crate::engine::client::docker::{found, Container, EngineInfo, LiveNetwork};
use crate::engine::host::address_space::{DaemonPools, HostSpace, PoolSource};
use crate::engine::host::gc;
use crate::engine::host::owner::{self, Liveness};
use crate::engine::host::sweep::{Kind, Object};
use crate::engine::{Engine, EngineResult};
use crate::labels;
use crate::routes::Route;
use crate::subnet_pool::{self, Pool};

/// What `ls` reads from the engine and the host.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub info: EngineInfo,
    /// Every network; netfence's inspected (their members known).
    pub networks: Vec<LiveNetwork>,
    /// Every object carrying `io.netfence.managed=true`.
    pub objects: Vec<Object>,
    /// The managed containers, inspected.
    pub containers: Vec<Container>,
    pub host: Option<HostSpace>,
}

/// Reads the engine: its info, every network, every netfence-owned object, and the
/// managed containers and networks inspected.
pub async fn observe(engine: &Engine) -> EngineResult<Observed> {
    let info = engine.info().await?;
    let managed = [format!("{}=true", labels::MANAGED)];
    let (networks, objects) = tokio::join!(engine.networks(), engine.owned(&managed));
    let (mut networks, objects) = (networks?, objects?);
    let members = join_all(
        networks
            .iter()
            .filter(|n| n.label(labels::MANAGED) == Some("true"))
            .map(|n| engine.inspect_network(&n.id)),
    )
    .await;
    for inspected in members.into_iter().filter_map(Result::ok) {
        if let Some(n) = networks.iter_mut().find(|n| n.id == inspected.id) {
            n.containers = inspected.containers;
        }
    }
    let ids: Vec<&str> = objects
        .iter()
        .filter(|o| o.kind == Kind::Container)
        .map(|o| o.id.as_str())
        .collect();
    let mut containers = Vec::new();
    for c in join_all(ids.iter().map(|id| engine.inspect_container(id))).await {
        // One removed meanwhile is simply not listed.
        let c = found(c).map_err(|e| e.doing("inspecting a container"))?;
        containers.extend(c);
    }
    // Compose's leftovers of a scope's project are the scope's by the labels `owned`
    // gave them (see `sweep`), not by their own.
    for c in &mut containers {
        if let Some(o) = objects.iter().find(|o| o.id == c.id) {
            for (k, v) in &o.labels {
                c.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    let host = HostSpace::read(&info);
    Ok(Observed {
        info,
        networks,
        objects,
        containers,
        host: Some(host),
    })
}

/// What `ls` is told besides the engine's state.
#[derive(Clone)]
pub struct Settings {
    /// Where the engine was reached: `DOCKER_HOST`, else the default socket.
    pub location: String,
    /// The policy's `limits.max_networks`.
    pub max_networks: u32,
    /// The policy's subnet pool and prefix length; `None`: runs take theirs from
    /// [`FALLBACK_POOL`](crate::plan::FALLBACK_POOL).
    pub pool: Option<(IpNet, u8)>,
    /// Where the policy came from.
    pub policy: String,
    /// Is a dev stack's checkout still there? (`Path::is_dir`, as `gc --dev` asks.)
    pub checkout_exists: std::sync::Arc<dyn Fn(&Path) -> bool + Send + Sync>,
    /// A reused stack's last use and input digest, by run id (`run --reuse`).
    pub reuse_record: ReuseLookup,
}

/// When a reused stack (by run id) was last used, and the digest of its input.
pub type ReuseLookup = std::sync::Arc<dyn Fn(&str) -> Option<(SystemTime, String)> + Send + Sync>;

/// The host's inventory.
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    pub engine: EngineSummary,
    pub policy: String,
    pub summary: Summary,
    pub scopes: Vec<ScopeEntry>,
    pub networks: Vec<NetworkEntry>,
    pub capacity: Capacity,
    pub orphans: Vec<Orphan>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineSummary {
    pub location: String,
    /// On this host (`DOCKER_HOST` unset or a unix socket).
    pub local: bool,
    pub version: String,
    pub host: String,
}

/// Counts, for a glance and for health checks.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub scopes: usize,
    pub containers: usize,
    pub running: usize,
    pub managed_networks: usize,
    pub unmanaged_networks: usize,
    pub volumes: usize,
    pub orphans: usize,
}

/// One scope with something on the engine.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeEntry {
    /// The `io.netfence.scope` label: `run:a1`, `env:production`, `dev:…`.
    pub scope: String,
    /// Before the colon: `run`, `env`, or a kind this version does not know, as written.
    pub kind: String,
    pub id: String,
    /// `io.netfence.project` and Compose project labels of its objects.
    pub projects: Vec<String>,
    /// When its oldest object was made (RFC 3339).
    pub created: Option<String>,
    pub age_seconds: Option<u64>,
    /// Runs: the `netfence run` that owns it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<OwnerEntry>,
    /// Dev stacks: the checkout they were brought up from (`io.netfence.checkout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout: Option<String>,
    /// No live `netfence run` owns it: `gc` takes it (see [`Orphan`]).
    pub orphaned: bool,
    /// Kept by `run --reuse`: the digest of its input and its last use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reuse: Option<ReuseEntry>,
    pub containers: Vec<ContainerEntry>,
    /// Names of its networks (details under `networks`).
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReuseEntry {
    pub digest: String,
    /// RFC 3339.
    pub last_use: String,
    pub idle_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnerEntry {
    /// The label as written: `<host>/<pid>/<start>`.
    pub label: String,
    pub host: Option<String>,
    pub pid: Option<u32>,
    /// `alive`, `gone`, or `unknown` (another host's, or unreadable).
    pub liveness: &'static str,
    /// `true`/`false`, `null` when unknown.
    pub alive: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerEntry {
    pub name: String,
    pub id: String,
    pub project: Option<String>,
    pub service: Option<String>,
    pub running: bool,
    /// Network name → its IPv4 address there.
    pub networks: BTreeMap<String, Option<String>>,
    pub ports: Vec<PortEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PortEntry {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: String,
    pub host_port: u16,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkEntry {
    pub name: String,
    pub id: String,
    pub driver: String,
    pub subnets: Vec<String>,
    /// Carries `io.netfence.managed=true`.
    pub managed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// managed, proxy, shared, environment (netfence's `io.netfence.role`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub internal: bool,
    /// Attached containers' names (known for managed networks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Capacity {
    /// `limits.max_networks` against the managed networks on the engine.
    pub max_networks: u32,
    pub managed_networks: usize,
    pub networks_left: usize,
    /// The pool netfence allocates from (the policy's, or the fallback runs use).
    pub pool: PoolUse,
    pub daemon_pools: DaemonPoolsUse,
    /// This host's routes (empty when the engine is not local).
    pub host_routes: Vec<Route>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolUse {
    pub pool: IpNet,
    pub prefix_length: u8,
    /// `policy` (subnets.pool) or `fallback` (where `run` takes subnets without one).
    pub source: &'static str,
    /// How many subnets of /prefix_length it holds, how many an engine network or a host
    /// route takes (of them, by netfence's networks), how many are left.
    pub subnets: u128,
    pub in_use: u128,
    pub by_netfence: u128,
    pub free: u128,
    /// What a plan from this pool steers around, and why.
    pub avoided: Vec<Avoid>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DaemonPoolsUse {
    /// `engine`, `daemon_json` or `built_in`.
    pub source: PoolSource,
    pub note: &'static str,
    pub pools: Vec<DaemonPoolUse>,
    /// Networks Docker can still allocate from them, of how many.
    pub networks: u128,
    pub in_use: u128,
    pub free: u128,
}

#[derive(Debug, Clone, Serialize)]
pub struct DaemonPoolUse {
    pub base: IpNet,
    pub size: u8,
    pub networks: u128,
    pub in_use: u128,
    pub free: u128,
}

/// A scope `gc` would remove: a run no live `netfence run` owns (`gc --older-than 0s`
/// takes it now, plain `gc` once it is an hour old), or a dev stack whose checkout is
/// gone (`gc --dev`).
#[derive(Debug, Clone, Serialize)]
pub struct Orphan {
    pub scope: String,
    /// The command that removes it: `netfence gc` or `netfence gc --dev`.
    pub gc: &'static str,
    /// Of its newest object: `gc --older-than` judges by it.
    pub age_seconds: Option<u64>,
    pub objects: Vec<OrphanObject>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrphanObject {
    /// `container`, `network` or `volume`.
    pub kind: &'static str,
    pub name: String,
}

/// The inventory of what was observed (pure: the engine was read before).
pub fn build(o: &Observed, s: &Settings, now: SystemTime) -> Inventory {
    let orphans = orphans(&o.objects, now, &*s.checkout_exists);
    let orphaned: BTreeSet<&str> = orphans.iter().map(|x| x.scope.as_str()).collect();
    let mut scopes = scopes(o, &orphaned, now);
    for e in scopes.iter_mut().filter(|e| e.kind == "run") {
        e.reuse = (s.reuse_record)(&e.id).map(|(when, digest)| ReuseEntry {
            digest,
            last_use: rfc3339(when),
            idle_seconds: age(Some(when), now),
        });
    }
    let networks = networks(&o.networks);
    let host = o.host.clone().unwrap_or_else(|| HostSpace {
        local: false,
        routes: Vec::new(),
        daemon_pools: crate::engine::host::address_space::daemon_pools(&[], false),
    });
    let capacity = capacity(o, s, &host);
    let summary = Summary {
        scopes: scopes.len(),
        containers: o.containers.len(),
        running: o.containers.iter().filter(|c| c.running).count(),
        managed_networks: networks.iter().filter(|n| n.managed).count(),
        unmanaged_networks: networks.iter().filter(|n| !n.managed).count(),
        volumes: o.objects.iter().filter(|x| x.kind == Kind::Volume).count(),
        orphans: orphans.len(),
    };
    Inventory {
        engine: EngineSummary {
            location: s.location.clone(),
            local: host.local,
            version: o.info.version.clone(),
            host: o.info.name.clone(),
        },
        policy: s.policy.clone(),
        summary,
        scopes,
        networks,
        capacity,
        orphans,
    }
}

fn age(created: Option<SystemTime>, now: SystemTime) -> Option<u64> {
    created.and_then(|c| now.duration_since(c).ok().map(|d| d.as_secs()))
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn orphans(
    objects: &[Object],
    now: SystemTime,
    checkout_exists: &dyn Fn(&Path) -> bool,
) -> Vec<Orphan> {
    let runs = gc::select(
        objects.to_vec(),
        gc::Thresholds::new(Some(Duration::ZERO)),
        now,
        |_| None,
    )
    .into_iter()
    .map(|o| ("netfence gc", o));
    let dev = gc::select_dev(objects.to_vec(), Duration::ZERO, now, checkout_exists)
        .into_iter()
        .map(|o| ("netfence gc --dev", o));
    runs.chain(dev)
        .map(|(gc, (scope, objs))| {
            let newest = objs.iter().filter_map(|o| o.created).max();
            let mut objects: Vec<OrphanObject> = objs
                .iter()
                .map(|o| OrphanObject {
                    kind: o.kind.name(),
                    name: o.name.clone(),
                })
                .collect();
            objects.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
            Orphan {
                scope,
                gc,
                age_seconds: age(newest, now),
                objects,
            }
        })
        .collect()
}

fn scopes(o: &Observed, orphaned: &BTreeSet<&str>, now: SystemTime) -> Vec<ScopeEntry> {
    let mut by_scope: BTreeMap<&str, Vec<&Object>> = BTreeMap::new();
    for obj in &o.objects {
        if let Some(scope) = obj.scope() {
            by_scope.entry(scope).or_default().push(obj);
        }
    }
    by_scope
        .into_iter()
        .map(|(scope, objs)| {
            let (kind, id) = scope.split_once(':').unwrap_or(("", scope));
            let containers: Vec<&Container> = o
                .containers
                .iter()
                .filter(|c| c.labels.get(labels::SCOPE).map(String::as_str) == Some(scope))
                .collect();
            let mut projects: BTreeSet<String> = objs
                .iter()
                .filter_map(|x| x.label(labels::PROJECT).map(str::to_owned))
                .collect();
            projects.extend(
                containers
                    .iter()
                    .filter_map(|c| c.project().map(str::to_owned)),
            );
            let oldest = objs.iter().filter_map(|x| x.created).min();
            let owner = (kind == "run")
                .then(|| objs.iter().find_map(|x| x.label(labels::OWNER)))
                .flatten()
                .map(owner_entry);
            let names = |k: Kind| -> Vec<String> {
                let mut v: Vec<String> = objs
                    .iter()
                    .filter(|x| x.kind == k)
                    .map(|x| x.name.clone())
                    .collect();
                v.sort();
                v
            };
            let mut containers: Vec<ContainerEntry> =
                containers.into_iter().map(container_entry).collect();
            containers.sort_by(|a, b| a.name.cmp(&b.name));
            ScopeEntry {
                scope: scope.to_owned(),
                kind: kind.to_owned(),
                id: id.to_owned(),
                projects: projects.into_iter().collect(),
                created: oldest.map(rfc3339),
                age_seconds: age(oldest, now),
                owner,
                checkout: objs
                    .iter()
                    .find_map(|x| x.label(labels::CHECKOUT))
                    .map(str::to_owned),
                orphaned: orphaned.contains(scope),
                reuse: None,
                containers,
                networks: names(Kind::Network),
                volumes: names(Kind::Volume),
            }
        })
        .collect()
}

fn owner_entry(label: &str) -> OwnerEntry {
    let mut parts = label.splitn(3, '/');
    let host = parts.next().filter(|h| !h.is_empty()).map(str::to_owned);
    let pid = parts.next().and_then(|p| p.parse().ok());
    let (liveness, alive) = match owner::liveness(label) {
        Liveness::Alive => ("alive", Some(true)),
        Liveness::Gone => ("gone", Some(false)),
        Liveness::Unknown => ("unknown", None),
    };
    OwnerEntry {
        label: label.to_owned(),
        host,
        pid,
        liveness,
        alive,
    }
}

fn container_entry(c: &Container) -> ContainerEntry {
    let mut ports: Vec<PortEntry> = c
        .published
        .iter()
        .map(|b| PortEntry {
            container_port: b.container_port,
            protocol: b.protocol.clone(),
            host_ip: b.host_ip.clone(),
            host_port: b.host_port,
        })
        .collect();
    ports.sort_by(|a, b| {
        (a.container_port, &a.protocol, &a.host_ip).cmp(&(
            b.container_port,
            &b.protocol,
            &b.host_ip,
        ))
    });
    ContainerEntry {
        name: c.name.clone(),
        id: short(&c.id),
        project: c.project().map(str::to_owned),
        service: c.service().map(str::to_owned),
        running: c.running,
        networks: c
            .networks
            .iter()
            .map(|(n, ep)| (n.clone(), ep.ip.clone()))
            .collect(),
        ports,
    }
}

fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

fn networks(live: &[LiveNetwork]) -> Vec<NetworkEntry> {
    let mut out: Vec<NetworkEntry> = live
        .iter()
        .map(|n| {
            let managed = n.label(labels::MANAGED) == Some("true");
            NetworkEntry {
                name: n.name.clone(),
                id: short(&n.id),
                driver: n.driver.clone(),
                subnets: n.subnets.clone(),
                managed,
                scope: n.label(labels::SCOPE).map(str::to_owned),
                // A scope's own networks carry no role label: they are the managed ones.
                role: n
                    .label(labels::ROLE)
                    .map(str::to_owned)
                    .or_else(|| managed.then(|| "managed".into())),
                internal: n.internal,
                containers: managed.then(|| {
                    let mut v: Vec<String> = n.containers.values().cloned().collect();
                    v.sort();
                    v
                }),
            }
        })
        .collect();
    out.sort_by(|a, b| (!a.managed, &a.name).cmp(&(!b.managed, &b.name)));
    out
}

fn subnets_of<'a>(nets: impl Iterator<Item = &'a LiveNetwork>) -> Vec<IpNet> {
    nets.flat_map(|n| n.subnets.iter().filter_map(|s| s.parse::<IpNet>().ok()))
        .collect()
}

fn capacity(o: &Observed, s: &Settings, host: &HostSpace) -> Capacity {
    let managed_networks = o
        .networks
        .iter()
        .filter(|n| n.label(labels::MANAGED) == Some("true"))
        .count();
    let (net, prefix_length, source) = match s.pool {
        Some((net, len)) => (net, len, "policy"),
        None => (
            crate::plan::FALLBACK_POOL.parse().expect("constant CIDR"),
            24,
            "fallback",
        ),
    };
    let pool = Pool {
        net,
        prefix_len: prefix_length,
    };
    let engine_subnets = subnets_of(o.networks.iter());
    let netfence_subnets = subnets_of(
        o.networks
            .iter()
            .filter(|n| n.label(labels::MANAGED) == Some("true")),
    );
    let mut hard = engine_subnets.clone();
    hard.extend(host.routes.iter().map(|r| r.subnet));
    let usage = pool.usage(&hard);
    let mut avoided: Vec<Avoid> = o
        .networks
        .iter()
        .flat_map(|n| {
            n.subnets
                .iter()
                .filter_map(|s| s.parse::<IpNet>().ok())
                .map(|s| Avoid::network(s, &n.name))
        })
        .chain(host.avoid())
        .filter(|a| {
            subnet_pool::overlaps(&a.subnet, &net)
                && a.subnet.addr().is_ipv4() == net.addr().is_ipv4()
        })
        .collect();
    avoided.sort_by(|a, b| (a.subnet, &a.reason).cmp(&(b.subnet, &b.reason)));
    Capacity {
        max_networks: s.max_networks,
        managed_networks,
        networks_left: (s.max_networks as usize).saturating_sub(managed_networks),
        pool: PoolUse {
            pool: net,
            prefix_length,
            source,
            subnets: usage.total,
            in_use: usage.used,
            by_netfence: pool.usage(&netfence_subnets).used,
            free: usage.free(),
            avoided,
        },
        daemon_pools: daemon_use(&host.daemon_pools, &engine_subnets),
        host_routes: host.routes.clone(),
    }
}

/// How much of the daemon's pools the engine's networks take: Docker carves a network
/// of `/size` from a pool only where no existing network overlaps.
fn daemon_use(d: &DaemonPools, engine_subnets: &[IpNet]) -> DaemonPoolsUse {
    let pools: Vec<DaemonPoolUse> = d
        .pools
        .iter()
        .map(|p| {
            let u = Pool {
                net: p.base,
                prefix_len: p.size,
            }
            .usage(engine_subnets);
            DaemonPoolUse {
                base: p.base,
                size: p.size,
                networks: u.total,
                in_use: u.used,
                free: u.free(),
            }
        })
        .collect();
    DaemonPoolsUse {
        source: d.source.clone(),
        note: d.source.describe(),
        networks: pools.iter().map(|p| p.networks).sum(),
        in_use: pools.iter().map(|p| p.in_use).sum(),
        free: pools.iter().map(|p| p.free).sum(),
        pools,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::client::docker::{Binding, Endpoint};
    use crate::engine::host::address_space::{daemon_pools, DaemonPool};
    use crate::labels::compose;
    use std::collections::HashMap;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn obj(kind: Kind, name: &str, pairs: &[(&str, &str)], age: u64, now: SystemTime) -> Object {
        Object {
            kind,
            id: format!("{name}-id"),
            name: name.into(),
            labels: labels(pairs),
            created: Some(now - Duration::from_secs(age)),
            running: kind == Kind::Container,
        }
    }

    fn net(name: &str, subnet: &str, pairs: &[(&str, &str)]) -> LiveNetwork {
        LiveNetwork {
            id: format!("{name}-0123456789abcdef"),
            name: name.into(),
            driver: "bridge".into(),
            subnets: vec![subnet.into()],
            labels: labels(pairs),
            ..Default::default()
        }
    }

    /// A live run (this process owns it), a dead run, an environment, a `dev:` scope
    /// this version does not know, and the engine's own networks.
    fn observed(now: SystemTime) -> Observed {
        let me = owner::current();
        let dead = format!("{}/4194999/1", owner::hostname());
        let m = (labels::MANAGED, "true");
        let live_run = [
            m,
            (labels::SCOPE, "run:live"),
            (labels::PROJECT, "nf-live-shop"),
            (labels::OWNER, me.as_str()),
        ];
        let dead_run = [
            m,
            (labels::SCOPE, "run:dead"),
            (labels::OWNER, dead.as_str()),
        ];
        let env = [
            m,
            (labels::SCOPE, "env:prod"),
            (labels::ROLE, "environment"),
        ];
        let dev = [
            m,
            (labels::SCOPE, "dev:shop-1a2b"),
            (labels::PROJECT, "shop"),
            (labels::CHECKOUT, "/gone/shop"),
        ];
        let web = Container {
            id: "c0ffee0123456789".into(),
            name: "nf-live-shop-web-1".into(),
            labels: labels(&[
                m,
                (labels::SCOPE, "run:live"),
                (compose::PROJECT, "nf-live-shop"),
                (compose::SERVICE, "web"),
            ]),
            running: true,
            networks: [(
                "nf-live-default".to_owned(),
                Endpoint {
                    ip: Some("10.213.4.2".into()),
                    ..Default::default()
                },
            )]
            .into(),
            published: vec![Binding {
                container_port: 80,
                protocol: "tcp".into(),
                host_ip: "0.0.0.0".into(),
                host_port: 32768,
            }],
            ..Default::default()
        };
        Observed {
            info: EngineInfo {
                version: "20.10.24".into(),
                name: "box".into(),
                ..Default::default()
            },
            networks: vec![
                net("bridge", "172.17.0.0/16", &[]),
                net("nf-live-default", "10.213.4.0/24", &live_run),
                net("nf-dead-default", "10.213.9.0/24", &dead_run),
                net("nf-env-prod", "172.18.0.0/16", &env),
            ],
            objects: vec![
                obj(Kind::Network, "nf-live-default", &live_run, 120, now),
                obj(Kind::Container, "nf-live-shop-web-1", &live_run, 100, now),
                obj(Kind::Network, "nf-dead-default", &dead_run, 7200, now),
                obj(Kind::Network, "nf-env-prod", &env, 86_400, now),
                obj(Kind::Volume, "shop_data", &dev, 60, now),
            ],
            containers: vec![web],
            host: Some(HostSpace {
                local: true,
                routes: vec![Route {
                    subnet: "10.213.7.0/24".parse().unwrap(),
                    interface: "wg0".into(),
                }],
                daemon_pools: daemon_pools(&[], false),
            }),
        }
    }

    fn settings() -> Settings {
        Settings {
            location: "unix:///var/run/docker.sock".into(),
            max_networks: 10,
            pool: None,
            policy: "built-in".into(),
            checkout_exists: std::sync::Arc::new(|p: &Path| p != Path::new("/gone/shop")),
            reuse_record: std::sync::Arc::new(|_: &str| None),
        }
    }

    #[test]
    fn scopes_of_every_kind_with_owner_liveness_and_orphans() {
        let now = SystemTime::now();
        let inv = build(&observed(now), &settings(), now);
        let kinds: Vec<(&str, &str, bool)> = inv
            .scopes
            .iter()
            .map(|s| (s.scope.as_str(), s.kind.as_str(), s.orphaned))
            .collect();
        assert_eq!(
            kinds,
            [
                ("dev:shop-1a2b", "dev", true),
                ("env:prod", "env", false),
                ("run:dead", "run", true),
                ("run:live", "run", false),
            ]
        );
        let live = &inv.scopes[3];
        assert_eq!(live.owner.as_ref().unwrap().alive, Some(true));
        assert_eq!(live.projects, ["nf-live-shop"]);
        assert_eq!(live.age_seconds, Some(120));
        assert_eq!(live.containers[0].ports[0].host_port, 32768);
        assert_eq!(inv.scopes[2].owner.as_ref().unwrap().liveness, "gone");
        assert!(inv.scopes[1].owner.is_none(), "environments have no owner");
        assert_eq!(inv.scopes[0].checkout.as_deref(), Some("/gone/shop"));
        let orphans: Vec<(&str, &str)> = inv
            .orphans
            .iter()
            .map(|o| (o.scope.as_str(), o.gc))
            .collect();
        assert_eq!(
            orphans,
            [
                ("run:dead", "netfence gc"),
                ("dev:shop-1a2b", "netfence gc --dev")
            ]
        );
        assert_eq!(inv.orphans[0].objects[0].name, "nf-dead-default");
        assert_eq!(inv.summary.scopes, 4);
        assert_eq!(inv.summary.orphans, 2);
        assert_eq!(inv.summary.managed_networks, 3);
        assert_eq!(inv.summary.unmanaged_networks, 1);
    }

    #[test]
    fn capacity_counts_the_limit_the_pool_and_the_daemons_pools() {
        let now = SystemTime::now();
        let inv = build(&observed(now), &settings(), now);
        let c = &inv.capacity;
        assert_eq!(
            (c.max_networks, c.managed_networks, c.networks_left),
            (10, 3, 7)
        );
        assert_eq!(c.pool.source, "fallback");
        assert_eq!(
            (
                c.pool.subnets,
                c.pool.in_use,
                c.pool.by_netfence,
                c.pool.free
            ),
            (256, 3, 2, 253)
        );
        let avoided: Vec<String> = c.pool.avoided.iter().map(ToString::to_string).collect();
        assert_eq!(
            avoided,
            [
                "10.213.4.0/24: network nf-live-default",
                "10.213.7.0/24: route on wg0",
                "10.213.9.0/24: network nf-dead-default",
            ]
        );
        assert_eq!(c.daemon_pools.source, PoolSource::BuiltIn);
        assert_eq!(
            (
                c.daemon_pools.networks,
                c.daemon_pools.in_use,
                c.daemon_pools.free
            ),
            (31, 2, 29)
        );
        let json = serde_json::to_value(&inv).unwrap();
        assert_eq!(json["capacity"]["daemon_pools"]["source"], "built_in");
        assert_eq!(json["scopes"][3]["owner"]["alive"], true);
    }

    #[test]
    fn an_empty_engine_is_an_empty_inventory() {
        let now = SystemTime::now();
        let o = Observed {
            networks: vec![net("bridge", "172.17.0.0/16", &[])],
            host: Some(HostSpace {
                local: false,
                routes: Vec::new(),
                daemon_pools: DaemonPools {
                    source: PoolSource::Engine,
                    pools: vec![DaemonPool {
                        base: "10.10.0.0/16".parse().unwrap(),
                        size: 24,
                    }],
                },
            }),
            ..Default::default()
        };
        let inv = build(&o, &settings(), now);
        assert!(inv.scopes.is_empty() && inv.orphans.is_empty());
        assert_eq!(inv.summary.unmanaged_networks, 1);
        assert_eq!(inv.capacity.daemon_pools.free, 256);
    }
}
