//! Rule 5 in dev scope: a checkout's stack keeps its host ports. Each
//! published port gets one from the policy's `dev_ports.range`, derived from the scope,
//! the service and the container port, so `down`/`up` and restarts find it where it was
//! bookmarked; when that one is taken, the next free one. Host IP, container port and
//! protocol are kept; `loopback` also binds to 127.0.0.1; `keep` leaves ports alone.
//!
//! The planner stays pure: what is taken on this host (published by another container,
//! bound by another program) and what the stack's own containers publish now come in
//! [`HostPorts`], read by the caller from the engine and the host.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::policy::PortsMode;
use crate::port_spec::{is_loopback, ShortPort};
use crate::scope::Scope;
use crate::yaml::{key, scalar_string, Mapping, Value};

use super::ctx::Ctx;
use super::PortChange;

/// What the host's ports look like to a dev stack's plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPorts {
    /// Host ports others use: published by another container (running or not), or bound
    /// on the host by another program.
    pub taken: BTreeSet<u16>,
    /// What the stack's own containers publish now, by [`port_key`]: kept where still
    /// free, so `up` on a stack that is up changes nothing.
    pub held: BTreeMap<String, u16>,
}

/// `service/port/protocol`: what one stable host port is for.
pub fn port_key(service: &str, container_port: u16, protocol: &str) -> String {
    format!("{service}/{container_port}/{protocol}")
}

/// Where the search for `key`'s host port starts: a hash of scope and key, in `range`.
pub fn preferred(scope: &Scope, key: &str, range: &RangeInclusive<u16>) -> u16 {
    let digest = Sha256::digest(format!("{scope}/{key}").as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    let size = u64::from(*range.end() - *range.start()) + 1;
    range.start() + (u64::from_be_bytes(head) % size) as u16
}

/// The first of `len` consecutive free ports, searching from `start` up and then from
/// the range's beginning; `None` when no such block is left.
pub fn next_free(
    start: u16,
    len: u16,
    range: &RangeInclusive<u16>,
    taken: &BTreeSet<u16>,
) -> Option<u16> {
    let (first, last) = (u32::from(*range.start()), u32::from(*range.end()));
    let len = u32::from(len.max(1));
    if first + len - 1 > last {
        return None;
    }
    let starts = last - (len - 1) - first + 1;
    let offset = u32::from(start).clamp(first, last) - first;
    (0..starts)
        .map(|i| first + (offset + i) % starts)
        .find(|s| (*s..*s + len).all(|p| !taken.contains(&(p as u16))))
        .map(|s| s as u16)
}

/// The state of one plan's allocation: ports given to earlier entries are taken for the
/// later ones.
pub(super) struct Allocator {
    scope: Scope,
    range: RangeInclusive<u16>,
    taken: BTreeSet<u16>,
    held: BTreeMap<String, u16>,
    loopback: bool,
}

impl Allocator {
    /// An allocator when the plan's ports are stable ones: dev scope, for Compose, and a
    /// ports mode other than `keep`.
    pub(super) fn new(ctx: &Ctx<'_>, scope: &Scope, mode: PortsMode) -> Option<Allocator> {
        if !scope.is_dev() || ctx.swarm() || mode == PortsMode::Keep {
            return None;
        }
        let host = &ctx.opts.host_ports;
        Some(Allocator {
            scope: scope.clone(),
            range: ctx.policy().dev_port_range(),
            taken: host.taken.clone(),
            held: host.held.clone(),
            loopback: mode == PortsMode::Loopback,
        })
    }

    /// `len` consecutive host ports for `key`: the ones the stack holds when they are
    /// still free, else from the hash on.
    fn assign(&mut self, key: &str, len: u16) -> Option<u16> {
        let free = |s: u16, taken: &BTreeSet<u16>| {
            (0..len).all(|i| {
                s.checked_add(i)
                    .is_some_and(|p| self.range.contains(&p) && !taken.contains(&p))
            })
        };
        let start = match self.held.get(key) {
            Some(&h) if free(h, &self.taken) => h,
            _ => next_free(
                preferred(&self.scope, key, &self.range),
                len,
                &self.range,
                &self.taken,
            )?,
        };
        self.taken.extend((0..len).map(|i| start + i));
        Some(start)
    }
}

/// A port entry's parts that decide its host port.
struct Entry {
    container_port: u16,
    /// How many container ports (a range `8000-8010` is 11).
    len: u16,
    protocol: String,
}

/// `80`, `80/udp`, `8000-8010/tcp`; `None` for text Compose would interpolate.
fn entry(target: &str, protocol: Option<&str>) -> Option<Entry> {
    let (ports, proto) = match target.split_once('/') {
        Some((p, proto)) => (p, Some(proto)),
        None => (target, None),
    };
    let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
    let first: u16 = a.trim().parse().ok()?;
    let last: u16 = b.trim().parse().ok()?;
    if first == 0 || last < first {
        return None;
    }
    Some(Entry {
        container_port: first,
        len: last - first + 1,
        protocol: proto.or(protocol).unwrap_or("tcp").to_ascii_lowercase(),
    })
}

fn published(start: u16, len: u16) -> String {
    if len == 1 {
        start.to_string()
    } else {
        format!("{start}-{}", start + (len - 1))
    }
}

/// The port entries of one service that change, each with what it becomes.
pub(super) fn plan(
    ctx: &mut Ctx<'_>,
    alloc: &mut Allocator,
    service: &str,
    svc: &Mapping,
) -> Result<Vec<PortChange>> {
    let Some(Value::Sequence(list)) = svc.get("ports").map(crate::yaml::untag) else {
        return Ok(Vec::new());
    };
    let mut changes = Vec::new();
    let mut unknowable = Vec::new();
    for p in list {
        let parsed = match p {
            Value::Scalar(_) => {
                scalar_string(p).and_then(|s| entry(&ShortPort::parse(&s).target, None))
            }
            Value::Mapping(m) => m.get("target").and_then(scalar_string).and_then(|t| {
                let proto = m.get("protocol").and_then(scalar_string);
                entry(&t, proto.as_deref())
            }),
            _ => None,
        };
        let Some(e) = parsed else {
            // No number to derive from: Docker picks, as in a run.
            let mode = if alloc.loopback {
                PortsMode::Loopback
            } else {
                PortsMode::Ephemeral
            };
            if let Some(after) = crate::port_spec::rewrite(p, mode) {
                unknowable.push(super::ports::show(p));
                changes.push(PortChange {
                    before: p.clone(),
                    after,
                });
            }
            continue;
        };
        let k = port_key(service, e.container_port, &e.protocol);
        let Some(start) = alloc.assign(&k, e.len) else {
            let r = &alloc.range;
            return Err(ctx.policy_err(
                "/dev_ports/range",
                format!(
                    "no {} free host port(s) in a row left in {}-{} for service `{service}` port {}/{}: widen the range, or free some",
                    e.len, r.start(), r.end(), e.container_port, e.protocol
                ),
            ));
        };
        let host = published(start, e.len);
        let after = match p {
            Value::Mapping(m) => {
                let mut m2 = m.clone();
                m2.insert(key("published"), Value::from(host));
                if alloc.loopback
                    && !m2
                        .get("host_ip")
                        .and_then(Value::as_str)
                        .is_some_and(is_loopback)
                {
                    m2.insert(key("host_ip"), key("127.0.0.1"));
                }
                Value::Mapping(m2)
            }
            _ => {
                let mut sp = ShortPort::parse(&scalar_string(p).unwrap_or_default());
                sp.published = Some(host);
                if alloc.loopback && !sp.host_ip.as_deref().is_some_and(is_loopback) {
                    sp.host_ip = Some("127.0.0.1".into());
                }
                Value::from(sp.render())
            }
        };
        if after != *p {
            changes.push(PortChange {
                before: p.clone(),
                after,
            });
        }
    }
    if !changes.is_empty() {
        let r = &alloc.range;
        let desc: Vec<String> = changes
            .iter()
            .map(|c| {
                format!(
                    "{} → {}",
                    super::ports::show(&c.before),
                    super::ports::show(&c.after)
                )
            })
            .collect();
        ctx.change(
            format!("service {service}"),
            format!("ports {}", desc.join(", ")),
            format!(
                "a checkout's stack keeps its host ports across down/up: each derived from the scope, the service and the container port, in {}-{} (policy dev_ports.range), the next free one when taken",
                r.start(),
                r.end()
            ),
        );
    }
    if !unknowable.is_empty() {
        ctx.warn(
            format!("service {service}"),
            format!(
                "ports {}: the container port is not a number before interpolation, so Docker picks the host port (it may change across down/up)",
                unknowable.join(", ")
            ),
        );
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;

    const RANGE: RangeInclusive<u16> = 20000..=29999;

    #[test]
    fn the_preferred_port_is_stable_in_range_and_differs_by_scope() {
        let a = Scope::Dev("shop-1111aaaa".into());
        let b = Scope::Dev("shop-2222bbbb".into());
        let k = port_key("web", 80, "tcp");
        assert_eq!(preferred(&a, &k, &RANGE), preferred(&a, &k, &RANGE));
        assert!(RANGE.contains(&preferred(&a, &k, &RANGE)));
        assert_ne!(preferred(&a, &k, &RANGE), preferred(&b, &k, &RANGE));
        assert_ne!(
            preferred(&a, &k, &RANGE),
            preferred(&a, &port_key("web", 81, "tcp"), &RANGE)
        );
        // Pinned: a bookmark survives a netfence upgrade.
        let pinned = Scope::Dev("shop-c2c5bbe6".into());
        assert_eq!(preferred(&pinned, &k, &RANGE), 21859);
        let tiny = 40000..=40000;
        assert_eq!(preferred(&a, &k, &tiny), 40000);
    }

    #[test]
    fn next_free_skips_taken_ports_and_wraps() {
        let taken: BTreeSet<u16> = [20005, 20006, 20009].into();
        let r = 20000..=20009;
        assert_eq!(next_free(20004, 1, &r, &taken), Some(20004));
        assert_eq!(next_free(20005, 1, &r, &taken), Some(20007));
        assert_eq!(next_free(20009, 1, &r, &taken), Some(20000), "wraps");
        assert_eq!(next_free(20005, 2, &r, &taken), Some(20007), "a block");
        assert_eq!(next_free(20008, 3, &r, &taken), Some(20000));
        let all: BTreeSet<u16> = r.clone().collect();
        assert_eq!(next_free(20003, 1, &r, &all), None);
        assert_eq!(next_free(20000, 11, &r, &BTreeSet::new()), None);
        assert_eq!(next_free(1, 1, &r, &BTreeSet::new()), Some(20000));
    }

    fn dev(compose: &str, policy: &str, host: HostPorts) -> World {
        let mut w = World::new(compose, policy);
        w.opts.scope = Some(Scope::Dev("shop-1111aaaa".into()));
        w.opts.host_ports = host;
        w
    }

    /// Every service's ports after the rule, and the changes.
    fn planned(w: &World) -> Result<(Vec<Vec<Value>>, Vec<String>)> {
        w.run(|ctx| {
            let scope = ctx.opts.scope.clone().unwrap();
            let mode = super::super::ports::mode(ctx, &scope);
            let mut alloc = Allocator::new(ctx, &scope, mode).expect("dev scope");
            let mut out = Vec::new();
            for (name, svc) in crate::compose::services(&w.doc) {
                let p = plan(ctx, &mut alloc, &name, &svc)?;
                out.push(p.into_iter().map(|p| p.after).collect());
            }
            Ok((out, ctx.changes.iter().map(|c| c.change.clone()).collect()))
        })
    }

    fn host_of(v: &Value) -> u16 {
        let text = match v {
            v if v.as_str().is_some() => ShortPort::parse(v.as_str().unwrap()).published.unwrap(),
            Value::Mapping(m) => scalar_string(m.get("published").unwrap()).unwrap(),
            other => panic!("{other:?}"),
        };
        text.split('-').next().unwrap().parse().unwrap()
    }

    const COMPOSE: &str = "services:\n  web:\n    ports: ['8080:80', '127.0.0.1::9000', '53:53/udp']\n  db:\n    ports:\n      - {target: 5432, published: 5432}\n      - '7000-7002:7000-7002'";

    #[test]
    fn a_dev_stack_gets_stable_ports_from_the_hash() {
        let w = dev(COMPOSE, "", HostPorts::default());
        let (out, changes) = planned(&w).unwrap();
        let scope = Scope::Dev("shop-1111aaaa".into());
        let want = preferred(&scope, &port_key("web", 80, "tcp"), &RANGE);
        assert_eq!(out[0][0], Value::from(format!("127.0.0.1:{want}:80")));
        let Some(second) = &out[0][1].as_str() else {
            panic!()
        };
        assert!(
            second.starts_with("127.0.0.1:2") && second.ends_with(":9000"),
            "{second}"
        );
        let Some(udp) = &out[0][2].as_str() else {
            panic!()
        };
        assert!(udp.ends_with(":53/udp"), "{udp}");
        assert!(RANGE.contains(&host_of(&out[1][0])));
        let Some(block) = &out[1][1].as_str() else {
            panic!()
        };
        let start = host_of(&out[1][1]);
        assert_eq!(*block, format!("127.0.0.1:{start}-{}:7000-7002", start + 2));
        assert!(changes[0].contains("\"8080:80\" → "), "{changes:?}");
        // The same inputs, the same ports.
        assert_eq!(planned(&w).unwrap().0, out);
        // Another checkout, other ports.
        let mut other = dev(COMPOSE, "", HostPorts::default());
        other.opts.scope = Some(Scope::Dev("shop-2222bbbb".into()));
        assert_ne!(planned(&other).unwrap().0[0][0], out[0][0]);
    }

    #[test]
    fn a_taken_port_moves_to_the_next_free_and_a_held_one_stays() {
        let scope = Scope::Dev("shop-1111aaaa".into());
        let k = port_key("web", 80, "tcp");
        let p = preferred(&scope, &k, &RANGE);
        let next = if p == *RANGE.end() {
            *RANGE.start()
        } else {
            p + 1
        };
        let compose = "services:\n  web:\n    ports: ['80']";
        let taken = HostPorts {
            taken: [p].into(),
            ..HostPorts::default()
        };
        let (out, _) = planned(&dev(compose, "", taken)).unwrap();
        assert_eq!(out[0][0], Value::from(format!("127.0.0.1:{next}:80")));
        // Once up on `next`, it stays there even when `p` is free again.
        let held = HostPorts {
            held: [(k.clone(), next)].into(),
            ..HostPorts::default()
        };
        let (out, _) = planned(&dev(compose, "", held)).unwrap();
        assert_eq!(out[0][0], Value::from(format!("127.0.0.1:{next}:80")));
        // A held port out of the range (the policy changed) is not kept.
        let stale = HostPorts {
            held: [(k, 80)].into(),
            ..HostPorts::default()
        };
        let (out, _) = planned(&dev(compose, "", stale)).unwrap();
        assert_eq!(out[0][0], Value::from(format!("127.0.0.1:{p}:80")));
    }

    #[test]
    fn two_ports_of_one_plan_never_share_a_host_port() {
        let compose =
            "services:\n  a:\n    ports: ['80', '81', '82']\n  b:\n    ports: ['80', '81']";
        let (out, _) = planned(&dev(
            compose,
            "dev_ports: {range: 30000-30004}",
            HostPorts::default(),
        ))
        .unwrap();
        let mut all: Vec<u16> = out.iter().flatten().map(host_of).collect();
        all.sort();
        assert_eq!(all, [30000, 30001, 30002, 30003, 30004]);
        let e = planned(&dev(
            compose,
            "dev_ports: {range: 30000-30003}",
            HostPorts::default(),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("/dev_ports/range") && e.contains("30000-30003"),
            "{e}"
        );
    }

    #[test]
    fn loopback_keep_and_interpolated_targets() {
        let compose = "services:\n  web:\n    ports: ['8080:80', '${P:-1}:${C:-80}']";
        let (out, _) = planned(&dev(compose, "ports: loopback", HostPorts::default())).unwrap();
        let Some(first) = &out[0][0].as_str() else {
            panic!()
        };
        assert!(
            first.starts_with("127.0.0.1:2") && first.ends_with(":80"),
            "{first}"
        );
        assert_eq!(out[0][1], Value::from("127.0.0.1::${C:-80}"));
        let w = dev(compose, "ports: keep", HostPorts::default());
        let scope = w.opts.scope.clone().unwrap();
        let none = w.run(|ctx| {
            let mode = super::super::ports::mode(ctx, &scope);
            Allocator::new(ctx, &scope, mode).is_none()
        });
        assert!(none, "ports: keep leaves a dev stack's ports as written");
        let warned = dev(compose, "", HostPorts::default()).run(|ctx| {
            let scope = ctx.opts.scope.clone().unwrap();
            let mut alloc = Allocator::new(ctx, &scope, PortsMode::Ephemeral).unwrap();
            let svc = crate::compose::services(ctx.inputs.doc).remove(0).1;
            plan(ctx, &mut alloc, "web", &svc).unwrap();
            ctx.warnings.clone()
        });
        assert!(warned[0].message.contains("${C:-80}"), "{warned:?}");
    }
}
