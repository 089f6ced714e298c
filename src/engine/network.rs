//! Networks through the Engine API: the subnets in use, creating a plan's networks
//! (with ownership labels, moving on when the engine says a subnet overlaps), removing.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::IpNet;

use super::{Engine, EngineError, EngineResult};
use crate::audit::Occupied;
use crate::labels;
use crate::plan::NetworkPlan;
use crate::subnet::{self, Pool, Request};
use crate::tenant::KnownNetwork;

/// How often one network moves to another subnet before giving up: overlaps come from
/// concurrent runs taking the same slot, and each retry re-reads the engine.
const MAX_SUBNET_TRIES: usize = 12;

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
}

/// One brief look at the engine's networks, or `None` when no engine answers within a
/// few seconds.
pub fn view_if_reachable() -> Option<View> {
    let rt = super::runtime().ok()?;
    rt.block_on(async {
        let lookup = async {
            let engine = Engine::connect().await.ok()?;
            let networks = engine.networks().await.ok()?;
            Some(view(networks))
        };
        tokio::time::timeout(BRIEF, lookup).await.ok().flatten()
    })
}

fn view(networks: Vec<super::docker::LiveNetwork>) -> View {
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

    /// Every IPv4/IPv6 subnet configured on the engine's networks.
    pub async fn occupied_subnets(&self) -> EngineResult<Vec<IpNet>> {
        Ok(self
            .subnets_in_use()
            .await?
            .into_iter()
            .map(|o| o.subnet)
            .collect())
    }

    /// Creates one network of the plan. `extra` labels (owner, creation time) are added
    /// to the plan's. When the engine refuses the subnet as overlapping, the next free one
    /// from `pool` is tried. Returns the subnet actually used.
    pub async fn create_managed(
        &self,
        np: &NetworkPlan,
        extra: &[(String, String)],
        pool: Option<Pool>,
    ) -> EngineResult<Option<IpNet>> {
        let mut subnet = np.subnet;
        let mut refused: Vec<IpNet> = Vec::new();
        for _ in 0..MAX_SUBNET_TRIES {
            let mut labels: HashMap<String, String> = np.labels.clone().into_iter().collect();
            for (k, v) in extra {
                labels.insert(k.clone(), v.clone());
            }
            let subnets: Vec<IpNet> = subnet.into_iter().collect();
            match self.create_network(np, &subnets, labels).await {
                Ok(_) => return Ok(subnet),
                Err(e) => {
                    let msg = e.message();
                    let overlap = msg.contains("overlaps") || msg.contains("Pool overlaps");
                    match (overlap, subnet, pool) {
                        (true, Some(s), Some(pool)) => {
                            tracing::info!(
                                "network {}: subnet {s} taken, trying the next",
                                np.name
                            );
                            refused.push(s);
                            let mut occupied = self.occupied_subnets().await?;
                            occupied.extend(refused.iter().copied());
                            subnet = next_subnet(pool, &np.name, &occupied)?;
                        }
                        _ => {
                            return Err(EngineError(format!(
                                "creating network {}{}: {msg}",
                                np.name,
                                subnet.map(|s| format!(" ({s})")).unwrap_or_default()
                            )))
                        }
                    }
                }
            }
        }
        Err(EngineError(format!(
            "creating network {}: every subnet tried overlapped another network ({} tries)",
            np.name, MAX_SUBNET_TRIES
        )))
    }

    /// Creates a cross-scope network (proxy, shared, environment) unless one of that name
    /// exists. When a concurrent creator made a duplicate, the older one stays.
    pub async fn ensure_persistent(&self, np: &NetworkPlan) -> EngineResult<bool> {
        if !self.networks_named(&np.name).await?.is_empty() {
            return Ok(false);
        }
        let created = vec![(labels::CREATED.to_owned(), super::now_rfc3339())];
        self.create_managed(np, &created, None).await?;
        let ids = self.networks_named(&np.name).await?;
        if ids.len() > 1 {
            // Docker allows duplicate names (a known race): keep the oldest.
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

/// The subnet `allocate` gives a network when `occupied` are taken.
pub fn next_subnet(pool: Pool, seed: &str, occupied: &[IpNet]) -> EngineResult<Option<IpNet>> {
    let req = [Request {
        seed: seed.to_owned(),
        fixed: None,
    }];
    subnet::allocate(Some(pool), &req, occupied)
        .map(|v| v[0])
        .map_err(|e| EngineError(format!("network {seed}: {e}")))
}

/// Gives every managed network of the plan that has no subnet one from `pool`.
///
/// Without this Docker would allocate from its default address pools, which hold about
/// thirty networks: ten parallel copies of a stack would exhaust them.
pub fn assign_subnets(
    networks: &mut [NetworkPlan],
    pool: Pool,
    occupied: &[IpNet],
) -> EngineResult<()> {
    let mut taken: Vec<IpNet> = occupied.to_vec();
    taken.extend(networks.iter().filter_map(|n| n.subnet));
    let idx: Vec<usize> = networks
        .iter()
        .enumerate()
        .filter(|(_, n)| n.role == crate::plan::Role::Managed && n.subnet.is_none())
        .map(|(i, _)| i)
        .collect();
    let requests: Vec<Request> = idx
        .iter()
        .map(|&i| Request {
            seed: networks[i].name.clone(),
            fixed: None,
        })
        .collect();
    let got = subnet::allocate(Some(pool), &requests, &taken)
        .map_err(|e| EngineError(format!("allocating subnets: {e}")))?;
    for (slot, &i) in idx.iter().enumerate() {
        networks[i].subnet = got[slot];
    }
    Ok(())
}
