//! The host's own routes, read from the kernel's routing table (`/proc/net/route` and
//! `/proc/net/ipv6_route`): every interface, IPv4 and IPv6.
//!
//! A subnet a fenced network takes is routed to its bridge; when a VPN or a LAN on the
//! host already uses that range, the bridge's route shadows it and the host loses the
//! way there (a `wg0` on 10.8.0.0/24 and a bridge on 10.8.0.0/24: traffic for the VPN
//! goes into the bridge). So allocation avoids these routes like the engine's own
//! subnets, wherever the engine runs on this host.
//!
//! Left out, because they are nobody's range to lose: default routes, the loopback
//! interface, IPv6 link-local and multicast routes, routes rejected by the kernel. Also
//! the routes of Docker's own bridges (`docker0`, `br-<network id>`, `docker_gwbridge`):
//! the engine's networks already stand for them, by name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::Serialize;

pub const IPV4_TABLE: &str = "/proc/net/route";
pub const IPV6_TABLE: &str = "/proc/net/ipv6_route";

/// `RTF_UP`: the route is usable.
const RTF_UP: u32 = 0x1;
/// `RTF_REJECT`: an unreachable/prohibit route, which routes nothing anywhere.
const RTF_REJECT: u32 = 0x200;

/// One route of the host: a destination subnet and the interface it leaves by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Route {
    pub subnet: IpNet,
    pub interface: String,
}

/// The host's routes that allocation must avoid (see the module's notes on what is left
/// out). A table that cannot be read (no IPv6, not Linux) gives no routes: the kernel
/// routes nothing there either.
pub fn read() -> Vec<Route> {
    let v4 = std::fs::read_to_string(IPV4_TABLE).unwrap_or_default();
    let v6 = std::fs::read_to_string(IPV6_TABLE).unwrap_or_default();
    let mut all = parse_ipv4(&v4);
    all.extend(parse_ipv6(&v6));
    all.sort();
    all.dedup();
    all
}

/// Routes of `/proc/net/route`. Addresses there are the kernel's network-order bytes
/// printed as a native-endian 32-bit number: `0017D50A` is 10.213.23.0 on x86.
pub fn parse_ipv4(text: &str) -> Vec<Route> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [iface, dest, _gateway, flags, _, _, _, mask, ..] = cols[..] else {
            continue;
        };
        let (Some(dest), Some(mask), Some(flags)) = (hex32(dest), hex32(mask), hex32(flags)) else {
            continue;
        };
        let addr = Ipv4Addr::from(dest.to_ne_bytes());
        let mask = u32::from_be_bytes(mask.to_ne_bytes());
        // A mask with holes is no prefix; the kernel does not make such routes.
        if mask.leading_ones() + mask.trailing_zeros() != 32 {
            continue;
        }
        let prefix = mask.leading_ones() as u8;
        push(&mut out, IpAddr::V4(addr), prefix, flags, iface);
    }
    out
}

/// Routes of `/proc/net/ipv6_route`: destination, its prefix length, source, its
/// prefix length, next hop, metric, reference count, use, flags, interface.
pub fn parse_ipv6(text: &str) -> Vec<Route> {
    let mut out = Vec::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [dest, prefix, _, _, _, _, _, _, flags, iface] = cols[..] else {
            continue;
        };
        let (Some(dest), Some(prefix), Some(flags)) = (
            u128::from_str_radix(dest, 16)
                .ok()
                .filter(|_| dest.len() == 32),
            u8::from_str_radix(prefix, 16).ok().filter(|p| *p <= 128),
            hex32(flags),
        ) else {
            continue;
        };
        push(
            &mut out,
            IpAddr::V6(Ipv6Addr::from(dest)),
            prefix,
            flags,
            iface,
        );
    }
    out
}

fn hex32(s: &str) -> Option<u32> {
    u32::from_str_radix(s, 16).ok()
}

fn push(out: &mut Vec<Route>, addr: IpAddr, prefix: u8, flags: u32, iface: &str) {
    if flags & RTF_UP == 0 || flags & RTF_REJECT != 0 || prefix == 0 {
        return;
    }
    if iface == "lo" || is_docker_bridge(iface) || !worth_avoiding(addr) {
        return;
    }
    let Ok(subnet) = IpNet::new(addr, prefix) else {
        return;
    };
    out.push(Route {
        subnet: subnet.trunc(),
        interface: iface.to_owned(),
    });
}

/// Loopback, link-local and multicast ranges are no pool's to hand out.
fn worth_avoiding(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(a) => !(a.is_loopback() || a.is_multicast()),
        IpAddr::V6(a) => {
            let link_local = (a.segments()[0] & 0xffc0) == 0xfe80;
            !(a.is_loopback() || a.is_multicast() || link_local)
        }
    }
}

/// The bridges Docker makes for its networks: `docker0` (the default `bridge`),
/// `docker_gwbridge` (Swarm), and `br-` plus the first 12 hex digits of a network's id.
pub fn is_docker_bridge(iface: &str) -> bool {
    if iface == "docker0" || iface == "docker_gwbridge" {
        return true;
    }
    iface.strip_prefix("br-").is_some_and(|id| {
        id.len() == 12
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} on {}", self.subnet, self.interface)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured on a Docker host with a WireGuard VPN and a LAN (x86, little-endian).
    const IPV4: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
br-a90e90faff71\t0017D50A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wg0\t0000080A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
tun0\t0100000A\t0100080A\t0007\t0\t0\t0\tFFFFFFFF\t0\t0\t0
eth1\t0000A8C0\t00000000\t0201\t0\t0\t0\t0000FFFF\t0\t0\t0
eth1\t0000A8C0\t00000000\t0000\t0\t0\t0\t0000FFFF\t0\t0\t0
garbage line
";

    const IPV6: &str = "\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0
fd00000000000000000000000000aa00 78 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001      wg0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001  docker0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000004 00000000 80200001       lo
fd000000000000000000000000000002 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001     eth0
fd6e6600000000000000000000000000 30 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 br-14a4cd114218
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
";

    fn routes(list: &[Route]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn ipv4_routes_of_every_interface_but_docker_bridges_and_defaults() {
        assert_eq!(
            routes(&parse_ipv4(IPV4)),
            [
                "192.0.2.0/24 on eth0",
                "10.8.0.0/24 on wg0",
                "10.0.0.1/32 on tun0",
            ]
        );
    }

    #[test]
    fn ipv6_routes_without_link_local_multicast_loopback_or_defaults() {
        assert_eq!(
            routes(&parse_ipv6(IPV6)),
            [
                "fd00::/64 on eth0",
                "fd00::aa00/120 on wg0",
                "fd00::2/128 on eth0",
            ]
        );
    }

    #[test]
    fn docker_bridges_are_known_by_name() {
        assert!(is_docker_bridge("docker0"));
        assert!(is_docker_bridge("br-a90e90faff71"));
        assert!(is_docker_bridge("docker_gwbridge"));
        assert!(!is_docker_bridge("br-lan"));
        assert!(!is_docker_bridge("br-A90E90FAFF71"));
        assert!(!is_docker_bridge("wg0"));
    }

    #[test]
    fn empty_or_foreign_text_gives_no_routes() {
        assert!(parse_ipv4("").is_empty());
        assert!(parse_ipv6("").is_empty());
        assert!(parse_ipv6("not a route table\n").is_empty());
        assert!(parse_ipv4("Iface\tDestination\n").is_empty());
    }

    #[test]
    fn this_hosts_tables_read_without_error() {
        for r in read() {
            assert!(r.subnet.prefix_len() > 0, "{r}");
            assert_ne!(r.interface, "lo");
        }
    }
}
