//! Subnet allocation from a pool: deterministic for a given network name, never
//! overlapping another subnet of the plan or one already in use on the engine.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error("subnet pool {pool} holds {total} subnets of /{prefix_len}, {blocked} of them in use; the plan needs {needed}: use a larger pool or a longer prefix_length")]
    Exhausted {
        pool: IpNet,
        prefix_len: u8,
        total: u128,
        blocked: u128,
        needed: usize,
    },
    #[error("explicit subnets {a} ({a_for}) and {b} ({b_for}) overlap")]
    Overlap {
        a: IpNet,
        a_for: String,
        b: IpNet,
        b_for: String,
    },
    #[error("pool {pool} and prefix length /{prefix_len} do not fit together")]
    BadPrefix { pool: IpNet, prefix_len: u8 },
}

/// One subnet the plan needs: `seed` makes its place in the pool stable (the network's
/// real name); `fixed` is an explicit subnet that must be honoured as it is.
#[derive(Debug, Clone)]
pub struct Request {
    pub seed: String,
    pub fixed: Option<IpNet>,
}

#[derive(Debug, Clone, Copy)]
pub struct Pool {
    pub net: IpNet,
    pub prefix_len: u8,
}

fn to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

fn from_u128(v: u128, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4((v as u32).into()),
        IpAddr::V6(_) => IpAddr::V6(v.into()),
    }
}

fn range(n: &IpNet) -> (u128, u128) {
    (to_u128(n.network()), to_u128(n.broadcast()))
}

pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    let (a0, a1) = range(a);
    let (b0, b1) = range(b);
    a0 <= b1 && b0 <= a1
}

impl Pool {
    fn slot_bits(&self) -> u32 {
        (self.net.max_prefix_len() - self.prefix_len) as u32
    }

    fn slots(&self) -> u128 {
        1u128 << (self.prefix_len - self.net.prefix_len()) as u32
    }

    fn slot_net(&self, slot: u128) -> IpNet {
        let base = to_u128(self.net.network()) + (slot << self.slot_bits());
        IpNet::new(from_u128(base, self.net.addr()), self.prefix_len).expect("prefix fits")
    }

    /// The slots an existing network overlaps, as an inclusive range.
    fn blocked_by(&self, n: &IpNet) -> Option<(u128, u128)> {
        if n.addr().is_ipv4() != self.net.addr().is_ipv4() || !overlaps(n, &self.net) {
            return None;
        }
        let (p0, p1) = range(&self.net);
        let (n0, n1) = range(n);
        let lo = n0.max(p0) - p0;
        let hi = n1.min(p1) - p0;
        Some((lo >> self.slot_bits(), hi >> self.slot_bits()))
    }
}

impl Pool {
    /// The slots the given subnets overlap, as sorted, merged inclusive ranges.
    fn blocked<'a>(&self, subnets: impl Iterator<Item = &'a IpNet>) -> Vec<(u128, u128)> {
        let mut blocked: Vec<(u128, u128)> = subnets.filter_map(|n| self.blocked_by(n)).collect();
        blocked.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(blocked.len());
        for (lo, hi) in blocked {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        merged
    }

    /// How many subnets of the pool's size it holds, and how many of them `in_use`
    /// overlaps: what is left for allocation (`netfence ls`).
    pub fn usage(&self, in_use: &[IpNet]) -> Usage {
        let total = if self.prefix_len < self.net.prefix_len()
            || self.prefix_len > self.net.max_prefix_len()
        {
            0
        } else {
            self.slots()
        };
        let used = if total == 0 {
            0
        } else {
            self.blocked(in_use.iter())
                .iter()
                .map(|(lo, hi)| hi - lo + 1)
                .sum()
        };
        Usage { total, used }
    }
}

/// Subnets of a pool: how many it holds, how many are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub total: u128,
    pub used: u128,
}

impl Usage {
    pub fn free(&self) -> u128 {
        self.total.saturating_sub(self.used)
    }
}

fn stable_hash(s: &str) -> u128 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(s.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    u128::from_be_bytes(b)
}

/// Allocates one subnet per request, in request order. `occupied` are subnets in use
/// elsewhere (the engine's networks, the host's routes); they are avoided, never an
/// error.
pub fn allocate(
    pool: Option<Pool>,
    requests: &[Request],
    occupied: &[IpNet],
) -> Result<Vec<Option<IpNet>>, AllocError> {
    // Explicit subnets first: they are fixed, and the pool must avoid them.
    let fixed: Vec<(usize, IpNet)> = requests
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.fixed.map(|n| (i, n)))
        .collect();
    for (x, (i, a)) in fixed.iter().enumerate() {
        for (j, b) in &fixed[x + 1..] {
            if overlaps(a, b) {
                return Err(AllocError::Overlap {
                    a: *a,
                    a_for: requests[*i].seed.clone(),
                    b: *b,
                    b_for: requests[*j].seed.clone(),
                });
            }
        }
    }
    let mut out: Vec<Option<IpNet>> = requests.iter().map(|r| r.fixed).collect();
    let needed = requests.iter().filter(|r| r.fixed.is_none()).count();
    let Some(pool) = pool else {
        return Ok(out);
    };
    if needed == 0 {
        return Ok(out);
    }
    if pool.prefix_len < pool.net.prefix_len() || pool.prefix_len > pool.net.max_prefix_len() {
        return Err(AllocError::BadPrefix {
            pool: pool.net,
            prefix_len: pool.prefix_len,
        });
    }
    let total = pool.slots();
    let merged = pool.blocked(occupied.iter().chain(fixed.iter().map(|(_, n)| n)));
    let blocked_count: u128 = merged.iter().map(|(lo, hi)| hi - lo + 1).sum();
    if (needed as u128) > total - blocked_count {
        return Err(AllocError::Exhausted {
            pool: pool.net,
            prefix_len: pool.prefix_len,
            total,
            blocked: blocked_count,
            needed,
        });
    }
    // The end of the blocked range holding `slot`, if any.
    let blocked_end = |slot: u128| -> Option<u128> {
        let i = merged.partition_point(|(lo, _)| *lo <= slot);
        if i == 0 {
            return None;
        }
        let (_, hi) = merged[i - 1];
        (slot <= hi).then_some(hi)
    };
    let mut taken: HashSet<u128> = HashSet::with_capacity(needed);
    for (i, r) in requests.iter().enumerate() {
        if r.fixed.is_some() {
            continue;
        }
        let mut slot = stable_hash(&r.seed) % total;
        // Linear probing: terminates because a free slot is known to exist.
        loop {
            if let Some(hi) = blocked_end(slot) {
                slot = if hi + 1 >= total { 0 } else { hi + 1 };
                continue;
            }
            if taken.insert(slot) {
                break;
            }
            slot = if slot + 1 >= total { 0 } else { slot + 1 };
        }
        out[i] = Some(pool.slot_net(slot));
    }
    Ok(out)
}

/// Why a static address cannot move into a network's new subnet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    #[error("{addr} and the new subnet {new} are of different IP versions")]
    Version { addr: IpAddr, new: IpNet },
    #[error("static address {addr} sits at host offset {offset}, which does not fit the new subnet {new}: use a shorter prefix_length")]
    DoesNotFit {
        addr: IpAddr,
        offset: u128,
        new: IpNet,
    },
}

/// Moves a static address into `new` at the host offset it had in `old` (or, when the
/// old subnet is unknown or does not hold it, at its low host bits).
pub fn move_address(addr: IpAddr, old: Option<&IpNet>, new: &IpNet) -> Result<IpAddr, MoveError> {
    if addr.is_ipv4() != new.addr().is_ipv4() {
        return Err(MoveError::Version { addr, new: *new });
    }
    let size_bits = (new.max_prefix_len() - new.prefix_len()) as u32;
    let offset = match old {
        Some(o) if o.contains(&addr) => to_u128(addr) - to_u128(o.network()),
        _ => {
            let mask = if size_bits >= 128 {
                u128::MAX
            } else {
                (1u128 << size_bits) - 1
            };
            to_u128(addr) & mask
        }
    };
    let size = if size_bits >= 128 {
        u128::MAX
    } else {
        1u128 << size_bits
    };
    if offset >= size {
        return Err(MoveError::DoesNotFit {
            addr,
            offset,
            new: *new,
        });
    }
    Ok(from_u128(to_u128(new.network()) + offset, new.addr()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn reqs(names: &[&str]) -> Vec<Request> {
        names
            .iter()
            .map(|n| Request {
                seed: n.to_string(),
                fixed: None,
            })
            .collect()
    }

    fn pool(s: &str, len: u8) -> Option<Pool> {
        Some(Pool {
            net: net(s),
            prefix_len: len,
        })
    }

    #[test]
    fn deterministic_and_disjoint() {
        let r = reqs(&["a", "b", "c", "d"]);
        let x = allocate(pool("10.213.0.0/16", 24), &r, &[]).unwrap();
        let y = allocate(pool("10.213.0.0/16", 24), &r, &[]).unwrap();
        assert_eq!(x, y);
        for (i, a) in x.iter().enumerate() {
            assert!(net("10.213.0.0/16").contains(&a.unwrap()));
            for b in &x[i + 1..] {
                assert!(!overlaps(&a.unwrap(), &b.unwrap()));
            }
        }
    }

    #[test]
    fn avoids_occupied_networks() {
        let r = reqs(&["a", "b", "c"]);
        let occ = [net("10.0.0.0/25"), net("10.0.1.0/24")];
        let x = allocate(pool("10.0.0.0/21", 24), &r, &occ).unwrap();
        for a in x.iter().flatten() {
            for o in &occ {
                assert!(!overlaps(a, o), "{a} overlaps {o}");
            }
        }
    }

    #[test]
    fn usage_counts_the_slots_in_use() {
        let p = pool("10.0.0.0/22", 24).unwrap();
        let u = p.usage(&[
            net("10.0.0.0/25"),
            net("10.0.0.128/25"),
            net("10.0.2.0/23"),
            net("192.0.2.0/24"),
        ]);
        assert_eq!((u.total, u.used, u.free()), (4, 3, 1));
        let bad = Pool {
            net: net("10.0.0.0/24"),
            prefix_len: 16,
        };
        assert_eq!(bad.usage(&[]).total, 0);
    }

    #[test]
    fn exhaustion_says_needed_and_available() {
        let r = reqs(&["a", "b", "c"]);
        let e = allocate(pool("10.0.0.0/23", 24), &r, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("holds 2 subnets"), "{e}");
        assert!(e.contains("needs 3"), "{e}");
    }

    #[test]
    fn explicit_overlap_is_refused() {
        let r = vec![
            Request {
                seed: "a".into(),
                fixed: Some(net("10.1.0.0/16")),
            },
            Request {
                seed: "b".into(),
                fixed: Some(net("10.1.2.0/24")),
            },
        ];
        assert!(matches!(
            allocate(None, &r, &[]),
            Err(AllocError::Overlap { .. })
        ));
    }

    #[test]
    fn moves_static_addresses_at_offset() {
        let a = move_address(
            "172.28.0.5".parse().unwrap(),
            Some(&net("172.28.0.0/16")),
            &net("10.213.7.0/24"),
        )
        .unwrap();
        assert_eq!(a.to_string(), "10.213.7.5");
        assert!(move_address(
            "172.28.1.5".parse().unwrap(),
            Some(&net("172.28.0.0/16")),
            &net("10.213.7.0/24")
        )
        .is_err());
    }

    #[test]
    fn ten_thousand_networks_fit_a_slash_eight() {
        let names: Vec<String> = (0..10_000).map(|i| format!("n{i}")).collect();
        let r: Vec<Request> = names
            .iter()
            .map(|n| Request {
                seed: n.clone(),
                fixed: None,
            })
            .collect();
        let x = allocate(pool("10.0.0.0/8", 24), &r, &[]).unwrap();
        let set: HashSet<_> = x.iter().collect();
        assert_eq!(set.len(), 10_000);
    }
}
