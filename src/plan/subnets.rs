//! Rule 4: subnets. Without a pool, a run drops fixed subnets and Docker
//! allocates; with one, every managed network gets a deterministic, non-overlapping
//! subnet. Static addresses move into the new subnet at the same host offset.
//!
//! When netfence creates the managed networks itself (`run`), every one of them gets a
//! subnet here, from the pool or the fallback pool: this stage is the only allocator, so
//! what `plan --for-run` prints is what `run` creates.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::yaml::{Mapping, Value};
use ipnet::IpNet;

use crate::avoid::{Avoid, Holder};
use crate::compose;
use crate::error::Result;
use crate::policy::parse_cidr;
use crate::scope::Scope;
use crate::subnet_pool::{self, AllocError, Pool, Request};
use crate::tenant::{Escape, Kind};
use crate::yaml::scalar_string;

use super::assignment::Draft;
use super::ctx::Ctx;
use super::written::Written;
use super::{Attachment, NetworkPlan, Role, FALLBACK_POOL, FALLBACK_POOL6};

/// Where each network's subnets moved, `(old, new)`, IPv4 before IPv6: the static
/// addresses on it follow.
pub(super) type Moved = BTreeMap<String, Vec<(Option<IpNet>, IpNet)>>;

/// The subnets the IPv4 pool must hand out, and the network each is for.
struct Requests {
    list: Vec<Request>,
    network: Vec<usize>,
}

/// Allocates, and says what it steered around in the pools it used (see [`Avoid`]).
pub(super) fn allocate(
    ctx: &mut Ctx<'_>,
    scope: &Scope,
    written: &Written<'_>,
    drafts: &[Draft<'_>],
    networks: &mut [NetworkPlan],
) -> Result<(Moved, Vec<Avoid>)> {
    let pool = match &ctx.policy().subnets {
        Some(s) => Some(Pool {
            net: parse_cidr(&s.pool).map_err(|m| ctx.policy_err("/subnets/pool", m.to_string()))?,
            prefix_len: s.prefix_length.unwrap_or(24),
        }),
        None => None,
    };
    // Docker refuses static addresses on a network without a configured subnet.
    let static_nets: BTreeSet<&str> = drafts
        .iter()
        .flat_map(|d| &d.attachments)
        .filter(|a| a.ipv4_address.is_some() || a.ipv6_address.is_some())
        .map(|a| a.network.as_str())
        .collect();
    if pool.is_none() && scope.is_env() && ctx.tenant_mode() {
        fixed_subnets_of_a_tenant(ctx, networks);
    }
    let requests = requests(ctx, scope, pool, &static_nets, networks)?;
    let occupied = others(&ctx.opts.occupied, networks);
    let mut moved = Moved::new();
    let mut avoided = ipv4(
        ctx,
        pool,
        &static_nets,
        (&requests, &occupied),
        written,
        networks,
        &mut moved,
    )?;
    avoided.extend(ipv6(ctx, scope, &occupied, networks, &mut moved)?);
    Ok((moved, avoided))
}

/// A tenant's fixed subnet, kept in env scope without a pool, is a host route the tenant
/// chose: the exact subnet of the host's LAN or VPN puts a route beside the host's own,
/// and the host's traffic there may go to the tenant's bridge. The engine refuses an
/// overlap with its own networks only. Judged with the rest of tenant mode's escapes.
fn fixed_subnets_of_a_tenant(ctx: &mut Ctx<'_>, networks: &[NetworkPlan]) {
    for n in networks.iter().filter(|n| n.role == Role::Managed) {
        let fixed = [n.original_subnet.as_deref(), n.original_subnet6.as_deref()];
        for subnet in fixed.into_iter().flatten() {
            let mut at = crate::tenant::path(&["networks", &n.key, "ipam", "config"], None);
            at.push(crate::tenant::Part::Key("subnet".into()));
            ctx.closing.push(Escape::new(
                Kind::HostNetwork,
                format!("network {}", n.key),
                at,
                format!("fixed subnet `{subnet}` becomes a route on the host, beside its own (its LAN, a VPN): a subnet pool in the policy (`subnets.pool`) moves it into the pool instead"),
                None,
            ));
        }
    }
}

/// What is in use, but for this plan's own managed networks as the engine already has
/// them: a stack deployed before is not in its own way, so planning it again gives the
/// same subnets. The caller hands the engine's whole view; the plan tells its own apart.
fn others(occupied: &[Avoid], networks: &[NetworkPlan]) -> Vec<Avoid> {
    let own: BTreeSet<&str> = networks
        .iter()
        .filter(|n| n.role == Role::Managed)
        .map(|n| n.name.as_str())
        .collect();
    occupied
        .iter()
        .filter(|a| !matches!(&a.holder, Holder::Network { name } if own.contains(name.as_str())))
        .cloned()
        .collect()
}

/// What allocation from `pool` avoids: everything occupied, or without the daemon's
/// pools (`soft: false`), which give way when the pool has no room beside them.
fn blockers(occupied: &[Avoid], soft: bool) -> Vec<IpNet> {
    occupied
        .iter()
        .filter(|a| soft || !a.is_soft())
        .map(|a| a.subnet)
        .collect()
}

/// The occupied subnets inside `pool`, in address order: what the plan reports.
fn within<'a>(occupied: &'a [Avoid], pool: &IpNet, soft: bool) -> Vec<&'a Avoid> {
    let mut v: Vec<&Avoid> = occupied
        .iter()
        .filter(|a| soft || !a.is_soft())
        .filter(|a| a.subnet.addr().is_ipv4() == pool.addr().is_ipv4())
        .filter(|a| subnet_pool::overlaps(&a.subnet, pool))
        .collect();
    v.sort_by(|a, b| (a.subnet, &a.reason).cmp(&(b.subnet, &b.reason)));
    v.dedup_by(|a, b| a.subnet == b.subnet && a.reason == b.reason);
    v
}

/// Allocates from `pool`, avoiding the daemon's pools when there is room without them,
/// and reports what was avoided. A pool that what is in use leaves too small is an error
/// naming what uses it.
fn allocate_around(
    ctx: &mut Ctx<'_>,
    pool: Option<Pool>,
    (requests, occupied): (&[Request], &[Avoid]),
    what: &str,
) -> std::result::Result<(Vec<Option<IpNet>>, Vec<Avoid>), AllocError> {
    let needed = requests.iter().any(|r| r.fixed.is_none());
    let Some(p) = pool.filter(|_| needed) else {
        return subnet_pool::allocate(pool, requests, &blockers(occupied, false))
            .map(|a| (a, Vec::new()));
    };
    let (got, soft) = match subnet_pool::allocate(pool, requests, &blockers(occupied, true)) {
        Ok(got) => (got, true),
        Err(AllocError::Exhausted { .. }) if occupied.iter().any(Avoid::is_soft) => (
            subnet_pool::allocate(pool, requests, &blockers(occupied, false))?,
            false,
        ),
        Err(e) => return Err(e),
    };
    let avoided: Vec<Avoid> = within(occupied, &p.net, soft)
        .into_iter()
        .cloned()
        .collect();
    if !soft {
        let pools = within(occupied, &p.net, true);
        let pools: Vec<&Avoid> = pools.into_iter().filter(|a| a.is_soft()).collect();
        ctx.warn(
            format!("subnets {what}"),
            format!(
                "{} overlaps the Docker daemon's address pools ({}), and has no room beside them: subnets taken there leave Docker fewer for the networks it allocates itself",
                p.net,
                crate::avoid::list(&pools, 4)
            ),
        );
    }
    Ok((got, avoided))
}

/// The error of a pool that is too small, naming what holds its subnets.
fn exhausted(occupied: &[Avoid], e: &AllocError) -> String {
    let AllocError::Exhausted { pool, blocked, .. } = e else {
        return e.to_string();
    };
    if *blocked == 0 {
        return e.to_string();
    }
    format!(
        "{e}; in use there: {}",
        crate::avoid::list(&within(occupied, pool, false), 8)
    )
}

/// Which managed networks need a subnet from the allocator; the others keep the input's
/// (environments without a pool) or leave it to Docker (runs).
fn requests(
    ctx: &mut Ctx<'_>,
    scope: &Scope,
    pool: Option<Pool>,
    static_nets: &BTreeSet<&str>,
    networks: &mut [NetworkPlan],
) -> Result<Requests> {
    let mut requests = Requests {
        list: Vec::new(),
        network: Vec::new(),
    };
    let keep_input = pool.is_none() && scope.is_env();
    for (i, n) in networks.iter_mut().enumerate() {
        if n.role != Role::Managed {
            continue;
        }
        let fixed = match ctx
            .policy()
            .networks
            .get(&n.key)
            .and_then(|s| s.subnet.as_deref())
        {
            Some(s) => Some(parse_cidr(s).map_err(|m| {
                ctx.policy_err(format!("/networks/{}/subnet", n.key), m.to_string())
            })?),
            None => None,
        };
        let input_subnet = n.original_subnet.as_deref().and_then(|s| s.parse().ok());
        if keep_input && fixed.is_none() && input_subnet.is_some() {
            n.subnet = input_subnet;
            continue;
        }
        let needs = fixed.is_some()
            || pool.is_some()
            || ctx.opts.managed_external
            || (static_nets.contains(n.key.as_str()) && !keep_input);
        if needs {
            requests.list.push(Request {
                seed: n.name.clone(),
                fixed,
            });
            requests.network.push(i);
        } else if let Some(orig) = &n.original_subnet {
            ctx.change(
                format!("network {}", n.key),
                format!("subnet {orig} dropped"),
                "a fixed subnet collides across copies; Docker allocates one (set subnets.pool to choose)",
            );
        }
    }
    Ok(requests)
}

fn ipv4(
    ctx: &mut Ctx<'_>,
    pool: Option<Pool>,
    static_nets: &BTreeSet<&str>,
    (requests, occupied): (&Requests, &[Avoid]),
    written: &Written<'_>,
    networks: &mut [NetworkPlan],
    moved: &mut Moved,
) -> Result<Vec<Avoid>> {
    let any_pooled = requests.list.iter().any(|r| r.fixed.is_none());
    let effective_pool = match (pool, any_pooled) {
        (Some(p), _) => Some(p),
        (None, true) => Some(Pool {
            net: FALLBACK_POOL.parse().expect("constant CIDR"),
            prefix_len: 24,
        }),
        (None, false) => None,
    };
    let asked = (requests.list.as_slice(), occupied);
    let (allocated, avoided) =
        allocate_around(ctx, effective_pool, asked, "(IPv4)").map_err(|e| match e {
            AllocError::Exhausted { .. } if pool.is_some() => {
                ctx.policy_err("/subnets", exhausted(occupied, &e))
            }
            AllocError::BadPrefix { .. } if pool.is_some() => {
                ctx.policy_err("/subnets", e.to_string())
            }
            AllocError::Overlap { .. } => ctx.policy_err("/networks", e.to_string()),
            other => ctx.compose_err(exhausted(occupied, &other)),
        })?;
    for ((request, &i), new) in requests.list.iter().zip(&requests.network).zip(allocated) {
        let Some(new) = new else { continue };
        let n = &mut networks[i];
        n.subnet = Some(new);
        let old: Option<IpNet> = n.original_subnet.as_deref().and_then(|s| s.parse().ok());
        if let Some(gw) = written.networks.get(&n.key).and_then(first_gateway) {
            n.gateway = subnet_pool::move_address(gw, old.as_ref(), &new).ok();
        }
        let static_here = static_nets.contains(n.key.as_str());
        let why = if pool.is_none() && static_here && request.fixed.is_none() {
            format!("services have static addresses here, which need a configured subnet; taken from {FALLBACK_POOL}")
        } else if pool.is_none() && request.fixed.is_none() {
            format!("netfence creates this network itself; Docker's default pools hold about thirty networks, so it takes one from {FALLBACK_POOL} (set subnets.pool to choose)")
        } else if request.fixed.is_some() {
            "policy networks.subnet".to_owned()
        } else {
            "allocated from the policy's subnet pool".to_owned()
        };
        let was = n.original_subnet.clone().unwrap_or_else(|| "(none)".into());
        ctx.change(
            format!("network {}", n.key),
            format!("subnet {was} → {new}"),
            why,
        );
        moved.entry(n.key.clone()).or_default().push((old, new));
    }
    Ok(avoided)
}

/// IPv6: a fixed subnet collides across copies like an IPv4 one, but Docker has no IPv6
/// pool to fall back on unless the daemon is configured with one, so a run gets a
/// deterministic ULA /64 instead. Environments keep theirs.
fn ipv6(
    ctx: &mut Ctx<'_>,
    scope: &Scope,
    occupied: &[Avoid],
    networks: &mut [NetworkPlan],
    moved: &mut Moved,
) -> Result<Vec<Avoid>> {
    let v6_idx: Vec<usize> = (0..networks.len())
        .filter(|&i| networks[i].role == Role::Managed && networks[i].original_subnet6.is_some())
        .collect();
    if scope.is_env() {
        for &i in &v6_idx {
            let n = &mut networks[i];
            n.subnet6 = n.original_subnet6.as_deref().and_then(|s| s.parse().ok());
        }
        return Ok(Vec::new());
    }
    if v6_idx.is_empty() {
        return Ok(Vec::new());
    }
    let reqs: Vec<Request> = v6_idx
        .iter()
        .map(|&i| Request {
            seed: networks[i].name.clone(),
            fixed: None,
        })
        .collect();
    let pool6 = Pool {
        net: FALLBACK_POOL6.parse().expect("constant CIDR"),
        prefix_len: 64,
    };
    let (got, avoided) = allocate_around(ctx, Some(pool6), (&reqs, occupied), "(IPv6)")
        .map_err(|e| ctx.compose_err(exhausted(occupied, &e)))?;
    for (&i, new) in v6_idx.iter().zip(got) {
        let Some(new) = new else { continue };
        let n = &mut networks[i];
        n.subnet6 = Some(new);
        let old: Option<IpNet> = n.original_subnet6.as_deref().and_then(|s| s.parse().ok());
        ctx.change(
            format!("network {}", n.key),
            format!(
                "subnet {} → {new}",
                n.original_subnet6.as_deref().unwrap_or("(none)")
            ),
            "a fixed IPv6 subnet collides across copies; a run gets a deterministic ULA /64",
        );
        moved.entry(n.key.clone()).or_default().push((old, new));
    }
    Ok(avoided)
}

/// Moves an attachment's static addresses along with its network's subnets.
pub(super) fn move_addresses(
    ctx: &mut Ctx<'_>,
    service: &str,
    a: &mut Attachment,
    moved: &Moved,
) -> Result<()> {
    for (old, new) in moved.get(&a.network).into_iter().flatten() {
        for (field, addr) in [
            ("ipv4_address", &mut a.ipv4_address),
            ("ipv6_address", &mut a.ipv6_address),
        ] {
            // An address that does not parse (`${IP}`) is the user's to keep.
            let Some(ip) = addr.as_deref().and_then(|t| t.parse::<IpAddr>().ok()) else {
                continue;
            };
            if ip.is_ipv4() != new.addr().is_ipv4() {
                continue;
            }
            let moved_ip = subnet_pool::move_address(ip, old.as_ref(), new).map_err(|m| {
                ctx.compose_err(format!("service `{service}` network `{}`: {m}", a.network))
            })?;
            if moved_ip != ip {
                ctx.change(
                    format!("service {service}"),
                    format!("{field} {ip} → {moved_ip} on {}", a.network),
                    "static addresses move with their network's subnet",
                );
            }
            *addr = Some(moved_ip.to_string());
        }
    }
    Ok(())
}

/// `ipam:` as written, of the managed networks whose subnets the plan changes: the
/// record keeps them so another scope can fence the original again.
pub(super) fn written_ipam(
    written: &Written<'_>,
    networks: &[NetworkPlan],
) -> BTreeMap<String, Value> {
    networks
        .iter()
        .filter(|n| n.role == Role::Managed)
        .filter(|n| {
            let v4_same = n.subnet.map(|s| s.to_string()) == n.original_subnet;
            let v6_same = n.subnet6.map(|s| s.to_string()) == n.original_subnet6;
            !(v4_same && v6_same)
        })
        .map(|n| {
            let ipam = written
                .networks
                .get(&n.key)
                .and_then(|d| d.get("ipam"))
                .cloned();
            (n.key.clone(), ipam.unwrap_or_else(Value::null))
        })
        .collect()
}

/// The first subnet of one family in a network's `ipam.config`, as written. A subnet
/// that does not parse (`${SUBNET}`) counts as IPv4.
pub(super) fn first_subnet(decl: &Mapping, v6: bool) -> Option<String> {
    compose::ipam_subnets(decl).into_iter().find(|s| {
        s.parse::<IpNet>()
            .map(|n| n.addr().is_ipv6())
            .unwrap_or(false)
            == v6
    })
}

fn first_gateway(decl: &Mapping) -> Option<IpAddr> {
    decl.get("ipam")
        .and_then(|i| i.get("config"))
        .and_then(Value::as_sequence)
        .and_then(|c| c.first())
        .and_then(|c| c.get("gateway"))
        .and_then(scalar_string)
        .and_then(|g| g.parse::<IpAddr>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;
    use crate::plan::{assignment, networks, project, written};

    struct Allocated {
        networks: Vec<NetworkPlan>,
        /// Each service's attachments after its static addresses moved.
        attachments: Vec<Vec<Attachment>>,
        changes: Vec<String>,
        ipam: BTreeMap<String, Value>,
        avoided: Vec<String>,
        warnings: Vec<String>,
    }

    fn allocated(w: &World) -> Result<Allocated> {
        w.run(|ctx| {
            let id = project::identify(ctx)?;
            let written = written::read(ctx)?;
            let drafts = assignment::assign(ctx, &written)?;
            let mut nets = networks::plan(ctx, &id, &written, &drafts)?;
            let (moved, avoided) = allocate(ctx, &id.scope, &written, &drafts, &mut nets)?;
            let mut attachments = Vec::new();
            for d in &drafts {
                let mut a = d.attachments.clone();
                for a in &mut a {
                    move_addresses(ctx, &d.name, a, &moved)?;
                }
                attachments.push(a);
            }
            Ok(Allocated {
                avoided: avoided.iter().map(ToString::to_string).collect(),
                warnings: ctx.warnings.iter().map(|w| w.message.clone()).collect(),
                ipam: written_ipam(&written, &nets),
                networks: nets,
                attachments,
                changes: ctx
                    .changes
                    .iter()
                    .map(|c| format!("{}: {}", c.subject, c.change))
                    .collect(),
            })
        })
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    /// The address at `offset` in an IPv4 subnet.
    fn host(subnet: IpNet, offset: u32) -> IpAddr {
        let IpAddr::V4(base) = subnet.network() else {
            panic!("{subnet} is not IPv4")
        };
        IpAddr::V4((u32::from(base) + offset).into())
    }

    fn has_change(changes: &[String], prefix: &str) {
        assert!(
            changes.iter().any(|c| c.starts_with(prefix)),
            "no change starting {prefix:?} in {changes:?}"
        );
    }

    const FIXED: &str = "services:\n  dns:\n    networks:\n      back: {ipv4_address: 172.20.0.53}\n  web: {networks: [back, front]}\nnetworks:\n  back:\n    ipam: {config: [{subnet: 172.20.0.0/16, gateway: 172.20.0.1}]}\n  front:\n    ipam: {config: [{subnet: 172.21.0.0/16}]}\n  edge: {external: true}";

    #[test]
    fn a_run_without_a_pool_drops_fixed_subnets() {
        let compose = "services: {web: {networks: [front]}}\nnetworks:\n  front:\n    ipam: {config: [{subnet: 172.21.0.0/16}]}";
        let a = allocated(&World::new(compose, "")).unwrap();
        assert_eq!(a.networks[0].subnet, None);
        assert_eq!(a.changes, ["network front: subnet 172.21.0.0/16 dropped"]);
        assert!(
            a.ipam.contains_key("front"),
            "the record keeps the ipam written"
        );
    }

    #[test]
    fn an_environment_without_a_pool_keeps_its_subnets() {
        let a = allocated(&World::new(FIXED, "").env("prod")).unwrap();
        assert_eq!(a.networks[0].subnet, Some(net("172.20.0.0/16")));
        assert_eq!(a.networks[1].subnet, Some(net("172.21.0.0/16")));
        assert!(a.changes.is_empty(), "{:?}", a.changes);
        assert!(a.ipam.is_empty());
    }

    #[test]
    fn a_pool_gives_each_managed_network_its_own_subnet_every_time() {
        let w = World::new(FIXED, "subnets: { pool: 10.50.0.0/16 }");
        let a = allocated(&w).unwrap();
        let (back, front) = (a.networks[0].subnet.unwrap(), a.networks[1].subnet.unwrap());
        assert!(net("10.50.0.0/16").contains(&back) && net("10.50.0.0/16").contains(&front));
        assert_eq!(back.prefix_len(), 24);
        assert_ne!(back, front);
        assert_eq!(a.networks[2].subnet, None, "external networks are not ours");
        assert_eq!(allocated(&w).unwrap().networks[0].subnet, Some(back));
    }

    #[test]
    fn a_static_address_moves_with_its_subnet_at_the_same_offset() {
        let a = allocated(&World::new(FIXED, "subnets: { pool: 10.50.0.0/16 }")).unwrap();
        let back = a.networks[0].subnet.unwrap();
        let expected = host(back, 53).to_string();
        assert_eq!(
            a.attachments[0][0].ipv4_address.as_deref(),
            Some(&*expected)
        );
        assert_eq!(a.networks[0].gateway, Some(host(back, 1)));
        let moved = format!("service dns: ipv4_address 172.20.0.53 → {expected} on back");
        assert!(a.changes.contains(&moved), "{:?}", a.changes);
    }

    #[test]
    fn static_addresses_without_a_pool_take_a_subnet_from_the_fallback() {
        let a = allocated(&World::new(FIXED, "")).unwrap();
        let back = a.networks[0].subnet.unwrap();
        assert!(net(FALLBACK_POOL).contains(&back), "{back}");
        assert_eq!(a.networks[1].subnet, None, "no static address there");
        has_change(&a.changes, "network back: subnet 172.20.0.0/16 → 10.213.");
    }

    #[test]
    fn networks_netfence_creates_each_get_a_subnet_avoiding_the_occupied() {
        let mut w = World::new(FIXED, "");
        w.opts.managed_external = true;
        let a = allocated(&w).unwrap();
        let (back, front) = (a.networks[0].subnet.unwrap(), a.networks[1].subnet.unwrap());
        assert!(net(FALLBACK_POOL).contains(&back) && net(FALLBACK_POOL).contains(&front));
        assert_ne!(back, front);
        assert_eq!(a.networks[2].subnet, None, "external networks are not ours");
        has_change(&a.changes, "network front: subnet 172.21.0.0/16 → 10.213.");
        // Planned again with one taken (the engine refused it): only that one moves.
        w.opts.occupied = vec![Avoid::refused(front)];
        let again = allocated(&w).unwrap();
        assert_eq!(again.networks[0].subnet, Some(back));
        let moved = again.networks[1].subnet.unwrap();
        assert!(
            moved != front && net(FALLBACK_POOL).contains(&moved),
            "{moved}"
        );
        // Without a pool and without netfence creating them, Docker allocates.
        w.opts.managed_external = false;
        assert_eq!(allocated(&w).unwrap().networks[1].subnet, None);
    }

    #[test]
    fn a_tenants_fixed_subnet_is_refused_unless_a_pool_moves_it() {
        let compose = "services: {web: {image: x, networks: [lan]}}\nnetworks:\n  lan: {ipam: {config: [{subnet: 192.168.1.0/24}]}}\n";
        let opts = crate::plan::Options {
            scope: Some(Scope::Env("prod".into())),
            ..crate::plan::Options::default()
        };
        let refused = crate::fence_str(compose, None, &opts)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("fixed subnet `192.168.1.0/24`") && refused.contains("subnets.pool"),
            "{refused}"
        );
        let pooled = "subnets: {pool: 10.77.0.0/16}\n";
        let (plan, _) = crate::fence_str(compose, Some(pooled), &opts).unwrap();
        let lan = plan.networks.iter().find(|n| n.key == "lan").unwrap();
        assert!(
            net("10.77.0.0/16").contains(&lan.subnet.unwrap()),
            "{lan:?}"
        );
        // The user's own stack (a run) keeps what it wrote to the plan's rules.
        let run = crate::plan::Options {
            scope: Some(Scope::Run("r1".into())),
            ..crate::plan::Options::default()
        };
        assert!(crate::fence_str(compose, None, &run).is_ok());
    }

    #[test]
    fn a_deployed_stack_is_not_in_its_own_way_but_others_are() {
        let mut w = World::new(FIXED, "");
        w.opts.managed_external = true;
        let first = allocated(&w).unwrap();
        let back = &first.networks[0];
        // The engine shows the plan's own network, deployed: planned again, it stays.
        w.opts.occupied = vec![Avoid::network(back.subnet.unwrap(), back.name.clone())];
        let again = allocated(&w).unwrap();
        assert_eq!(again.networks[0].subnet, back.subnet);
        // Another network on that subnet: the plan steers around it.
        w.opts.occupied = vec![Avoid::network(back.subnet.unwrap(), "someone-else")];
        let moved = allocated(&w).unwrap();
        assert_ne!(moved.networks[0].subnet, back.subnet);
    }

    /// One network of the run, its subnet from a /22 pool (4 slots of /24).
    const ONE: &str = "services: {a: {networks: [x, y]}}\nnetworks: {x: {}, y: {}}";
    const SMALL_POOL: &str = "subnets: { pool: 10.9.0.0/22 }";

    #[test]
    fn host_routes_are_avoided_and_reported_with_their_interface() {
        let mut w = World::new(ONE, "subnets: { pool: 10.9.0.0/21 }");
        w.opts.occupied = vec![
            Avoid::route(net("10.9.0.0/24"), "wg0"),
            Avoid::route(net("10.9.1.0/24"), "eth1"),
            Avoid::route(net("192.0.2.0/24"), "eth0"),
            Avoid::network(net("10.9.2.0/24"), "other"),
        ];
        let a = allocated(&w).unwrap();
        let got: Vec<IpNet> = a.networks.iter().filter_map(|n| n.subnet).collect();
        assert_eq!(got.len(), 2);
        for n in &got {
            assert!(
                w.opts
                    .occupied
                    .iter()
                    .all(|o| !crate::subnet_pool::overlaps(n, &o.subnet)),
                "{n} is in use"
            );
        }
        assert_eq!(
            a.avoided,
            [
                "10.9.0.0/24: route on wg0",
                "10.9.1.0/24: route on eth1",
                "10.9.2.0/24: network other",
            ],
            "what lies outside the pool is not reported"
        );
    }

    #[test]
    fn a_pool_the_host_routes_fill_is_refused_naming_them() {
        let mut w = World::new(ONE, "subnets: { pool: 10.9.0.0/23 }");
        w.opts.occupied = vec![Avoid::route(net("10.9.1.0/24"), "tun0")];
        let e = allocated(&w).map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("policy at /subnets"), "{e}");
        assert!(
            e.contains("holds 2 subnets of /24, 1 of them in use"),
            "{e}"
        );
        assert!(e.contains("needs 2"), "{e}");
        assert!(e.contains("10.9.1.0/24: route on tun0"), "{e}");
    }

    #[test]
    fn daemon_pools_are_avoided_while_the_pool_has_room_beside_them() {
        let mut w = World::new(ONE, SMALL_POOL);
        w.opts.occupied = vec![Avoid::daemon_pool(net("10.9.0.0/23"), "built-in default")];
        let a = allocated(&w).unwrap();
        for n in a.networks.iter().filter_map(|n| n.subnet) {
            assert!(net("10.9.2.0/23").contains(&n), "{n}");
        }
        assert_eq!(
            a.avoided,
            ["10.9.0.0/23: Docker daemon address pool (built-in default)"]
        );
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        // A pool inside the daemon's is the platform's choice: used, with a warning.
        w.opts.occupied = vec![Avoid::daemon_pool(net("10.0.0.0/8"), "daemon.json")];
        let a = allocated(&w).unwrap();
        assert_eq!(a.networks.iter().filter_map(|n| n.subnet).count(), 2);
        assert!(a.avoided.is_empty(), "{:?}", a.avoided);
        assert!(
            a.warnings
                .iter()
                .any(|m| m.contains("overlaps the Docker daemon's address pools (10.0.0.0/8: Docker daemon address pool (daemon.json))")),
            "{:?}",
            a.warnings
        );
    }

    #[test]
    fn a_pool_too_small_says_needed_and_available() {
        let e = allocated(&World::new(
            "services: {a: {networks: [x, y, z]}}\nnetworks: {x: {}, y: {}, z: {}}",
            "subnets: { pool: 10.0.0.0/24, prefix_length: 25 }",
        ))
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert!(e.contains("policy at /subnets"), "{e}");
        assert!(e.contains("holds 2 subnets of /25"), "{e}");
        assert!(e.contains("needs 3"), "{e}");
    }

    #[test]
    fn policy_subnets_are_honoured_and_may_not_overlap() {
        let a = allocated(&World::new(
            FIXED,
            "networks: { front: { subnet: 10.9.0.0/24 } }",
        ))
        .unwrap();
        assert_eq!(a.networks[1].subnet, Some(net("10.9.0.0/24")));
        has_change(
            &a.changes,
            "network front: subnet 172.21.0.0/16 → 10.9.0.0/24",
        );

        let e = allocated(&World::new(
            FIXED,
            "networks: { front: { subnet: 10.9.0.0/16 }, back: { subnet: 10.9.1.0/24 } }",
        ))
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert!(e.contains("policy at /networks"), "{e}");
        assert!(e.contains("overlap"), "{e}");
    }

    #[test]
    fn an_address_that_cannot_keep_its_offset_names_service_and_network() {
        let e = allocated(&World::new(
            FIXED,
            "subnets: { pool: 10.50.0.0/16, prefix_length: 28 }",
        ))
        .map(|_| ())
        .unwrap_err()
        .to_string();
        assert!(e.contains("service `dns` network `back`"), "{e}");
        assert!(e.contains("does not fit"), "{e}");
    }

    #[test]
    fn a_run_gets_a_ula_for_a_fixed_ipv6_subnet_an_environment_keeps_it() {
        let compose = "services:\n  web:\n    networks:\n      v6: {ipv6_address: 'fd00:1::10'}\nnetworks:\n  v6:\n    enable_ipv6: true\n    ipam: {config: [{subnet: 'fd00:1::/64'}]}";
        let a = allocated(&World::new(compose, "")).unwrap();
        let new = a.networks[0].subnet6.unwrap();
        assert!(net(FALLBACK_POOL6).contains(&new), "{new}");
        let addr = a.attachments[0][0].ipv6_address.clone().unwrap();
        assert!(new.contains(&addr.parse::<IpAddr>().unwrap()), "{addr}");
        assert!(addr.ends_with("::10"), "{addr}");

        let a = allocated(&World::new(compose, "").env("prod")).unwrap();
        assert_eq!(a.networks[0].subnet6, Some(net("fd00:1::/64")));
        assert_eq!(
            a.attachments[0][0].ipv6_address.as_deref(),
            Some("fd00:1::10")
        );
    }
}
