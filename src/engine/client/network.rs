//! Networks through the Engine API: the subnets in use, creating a plan's networks
//! (with ownership labels, telling an overlapping subnet apart), removing.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::IpNet;

use crate::audit::Occupied;
use crate::avoid::Avoid;
use crate::engine::host::address_space::HostSpace;
use crate::engine::{Engine, EngineError, EngineResult};
use crate::labels;
use crate::plan::NetworkPlan;
use crate::tenant::KnownNetwork;

/// How long a command that works without an engine waits for one before going on.
const BRIEF: Duration = Duration::from_secs(3);

/// Subnets in use on the engine, each with its network's name, or `None` when no engine
/// answers within a few seconds: for the commands that work without an engine (`audit`,
/// `rewrite` and `plan` with a subnet pool), which only avoid what they can see.
pub fn subnets_if_reachable() -> Option<Vec<Occupied>> {
    view_if_reachable().map(|v| v.subnets)
}

/// What a planning command that works without an engine can learn from one.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Subnets in use, each with its network's name.
    pub subnets: Vec<Occupied>,
    /// Networks netfence labelled: tenant mode knows another scope's by them.
    pub known: Vec<KnownNetwork>,
    /// The host's routes and the daemon's pools (see [`HostSpace`]).
    pub host: Option<HostSpace>,
}

impl View {
    /// What allocation avoids on this engine: every network's subnets, and the host's.
    /// The plan tells its own deployed networks apart itself.
    pub fn avoid(&self) -> Vec<Avoid> {
        avoid(&self.subnets, self.host.as_ref())
    }
}

fn avoid(subnets: &[Occupied], host: Option<&HostSpace>) -> Vec<Avoid> {
    let mut out: Vec<Avoid> = subnets
        .iter()
        .map(|o| Avoid::network(o.subnet, &o.network))
        .collect();
    out.extend(host.into_iter().flat_map(HostSpace::avoid));
    out
}

/// One brief look at the engine's networks, or `None` when no engine answers within a
/// few seconds.
pub fn view_if_reachable() -> Option<View> {
    let rt = crate::engine::runtime().ok()?;
    rt.block_on(async {
        let lookup = async {
            let engine = Engine::connect().await.ok()?;
            let networks = engine.networks().await.ok()?;
            let info = engine.info().await.unwrap_or_default();
            let mut v = view(networks);
            v.host = Some(HostSpace::read(&info));
            Some(v)
        };
        tokio::time::timeout(BRIEF, lookup).await.ok().flatten()
    })
}

fn view(networks: Vec<crate::engine::client::docker::LiveNetwork>) -> View {
    let mut v = View::default();
    for n in networks {
        for subnet in n.subnets.iter().filter_map(|s| s.parse::<IpNet>().ok()) {
            v.subnets.push(Occupied {
                subnet,
                network: n.name.clone(),
            });
        }
        if n.label(labels::MANAGED) == Some("true") {
            let get = |k: &str| n.label(k).map(str::to_owned);
            v.known.push(KnownNetwork {
                scope: get(labels::SCOPE),
                project: get(labels::PROJECT),
                role: get(labels::ROLE),
                name: n.name,
            });
        }
    }
    v
}

impl Engine {
    /// Every IPv4/IPv6 subnet configured on the engine's networks, with its network.
    pub async fn subnets_in_use(&self) -> EngineResult<Vec<Occupied>> {
        Ok(self
            .networks()
            .await?
            .into_iter()
            .flat_map(|n| {
                let name = n.name;
                n.subnets
                    .into_iter()
                    .filter_map(|s| s.parse::<IpNet>().ok())
                    .map(move |subnet| Occupied {
                        subnet,
                        network: name.clone(),
                    })
            })
            .collect())
    }

    /// What a plan for this engine avoids: every network's subnets (the plan tells its
    /// own deployed ones apart), the host's routes and the daemon's pools (see
    /// [`HostSpace`]).
    pub async fn avoid(&self) -> EngineResult<Vec<Avoid>> {
        let (subnets, info) = tokio::join!(self.subnets_in_use(), self.info());
        let host = HostSpace::read(&info.unwrap_or_default());
        Ok(avoid(&subnets?, Some(&host)))
    }

    /// Every IPv4/IPv6 subnet configured on the engine's networks.
    pub async fn occupied_subnets(&self) -> EngineResult<Vec<IpNet>> {
        Ok(self
            .subnets_in_use()
            .await?
            .into_iter()
            .map(|o| o.subnet)
            .collect())
    }

    /// Creates one network exactly as planned: its subnets, its labels plus `extra`
    /// (owner, creation time). Returns the new network's id. An engine that refuses a
    /// subnet as overlapping another network is told apart ([`NotCreated::Overlap`]):
    /// the caller plans again around it, so the plan stays the only allocator.
    pub async fn create_planned(
        &self,
        np: &NetworkPlan,
        extra: &[(String, String)],
    ) -> Result<String, NotCreated> {
        let mut labels: HashMap<String, String> = np.labels.clone().into_iter().collect();
        for (k, v) in extra {
            labels.insert(k.clone(), v.clone());
        }
        let subnets: Vec<IpNet> = np.subnet.into_iter().chain(np.subnet6).collect();
        self.create_network(np, &subnets, labels)
            .await
            .map_err(|e| match subnets.first() {
                _ if e.is_conflict() => NotCreated::Exists,
                Some(&s) if e.is_overlap() => NotCreated::Overlap(s),
                _ => NotCreated::Failed(e.doing(format!(
                    "creating network {}{}",
                    np.name,
                    np.subnet.map(|s| format!(" ({s})")).unwrap_or_default()
                ))),
            })
    }

    /// Creates a cross-scope network (proxy, shared, environment) unless one of that name
    /// exists. When a concurrent creator made a duplicate, the older one stays.
    pub async fn ensure_persistent(&self, np: &NetworkPlan) -> EngineResult<bool> {
        if !self.networks_named(&np.name).await?.is_empty() {
            return Ok(false);
        }
        let created = vec![(labels::CREATED.to_owned(), crate::engine::now_rfc3339())];
        match self.create_planned(np, &created).await {
            Ok(_) => {}
            // A concurrent creator won (current engines refuse a second of one name).
            Err(NotCreated::Exists) => return Ok(false),
            Err(NotCreated::Failed(e)) => return Err(e),
            Err(NotCreated::Overlap(s)) => {
                return Err(EngineError::Conflict {
                    network: np.name.clone(),
                    message: format!(
                    "creating network {}: its subnet {s} overlaps another network on the engine",
                    np.name
                ),
                })
            }
        }
        let ids = self.networks_named(&np.name).await?;
        if ids.len() > 1 {
            // Docker 20.10 allows duplicate names (a known race): keep the oldest.
            let mut dated = Vec::new();
            for id in &ids {
                if let Ok(n) = self.inspect_network(id).await {
                    dated.push((n.created.unwrap_or_default(), id.clone()));
                }
            }
            dated.sort();
            for (_, id) in dated.iter().skip(1) {
                let _ = self.remove_network(id).await;
            }
        }
        Ok(true)
    }
}

/// Why a planned network was not created.
#[derive(Debug)]
pub enum NotCreated {
    /// The engine has a network on (part of) this subnet: a concurrent run took it after
    /// the plan read the engine.
    Overlap(IpNet),
    /// The engine holds a network of that name already.
    Exists,
    Failed(EngineError),
}
