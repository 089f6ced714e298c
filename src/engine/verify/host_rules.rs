//! `verify` on the engine's own host: the netfilter rules that keep each of the scope's
//! bridge networks apart from every other. Between bridges, isolation is nothing but
//! these rules, and anything that flushes or reloads the host's firewall (firewalld,
//! iptables-persistent) removes them until dockerd starts again (moby#12294, moby#48657).
//!
//! The layout is the one dockerd's iptables backend writes from 20.10 to 28 (moby's
//! `libnetwork/drivers/bridge` setup of the isolation chains):
//! - every bridge `B` that is not internal: `-A DOCKER-ISOLATION-STAGE-1 -i B ! -o B -j
//!   DOCKER-ISOLATION-STAGE-2` and `-A DOCKER-ISOLATION-STAGE-2 -o B -j DROP`: traffic
//!   leaving another bridge for `B` is dropped;
//! - every internal bridge, per IPv4 subnet `S`: `-A DOCKER-ISOLATION-STAGE-1 ! -s S -o B
//!   -j DROP` and `! -d S -i B -j DROP`: nothing enters or leaves the subnet;
//! - `FORWARD` reaches `DOCKER-ISOLATION-STAGE-1` (directly before 28, through
//!   `DOCKER-FORWARD` since), and nothing accepts every packet before it does.
//!
//! Docker 28 adds a second fence, per container: in the raw table, `-A PREROUTING -d A
//! ! -i B -j DROP` for each address `A` a running container has on a bridge `B` (not an
//! internal one, nor a family whose gateway mode is `routed` or `nat-unprotected`). It
//! drops what reaches the container from any other interface: another host routing to
//! it, and another bridge's containers too. A firewall reload removes these as well, so
//! each running container of the scope is a row per bridge it is on (see `netfilter`
//! for what the engine writes and when it writes none).
//!
//! Docker 29 replaces the isolation chains and the nftables backend writes no iptables
//! rules: there the layout is not known to this version, which says so as a difference
//! rather than pass a check it did not make. Reading the rules is I/O; judging is pure.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::fence::{Kind, Rules};
use super::{Ctr, Net, Row};
use crate::engine::client::docker::EngineInfo;

use crate::engine::host::netfilter::{self, STAGE_1};

/// The host's filter table as `iptables-save` prints it, or why it was not read.
#[derive(Debug, Clone)]
pub(super) enum HostRules {
    Read {
        /// The engine's major version and firewall backend.
        major: u32,
        backend: String,
        /// The `-A CHAIN …` lines, in order.
        lines: Vec<String>,
        /// The raw table, on engines that drop direct routing there (28).
        raw: Option<RawTables>,
    },
    NotRead(String),
}

/// The raw table's `-A CHAIN …` lines per address family, or why one was not read.
#[derive(Debug, Clone)]
pub(super) struct RawTables {
    v4: Result<Vec<String>, String>,
    v6: Result<Vec<String>, String>,
}

impl RawTables {
    fn read() -> RawTables {
        let family = |ipv6| netfilter::raw_lines(ipv6).map_err(|e| e.to_string());
        RawTables {
            v4: family(false),
            v6: family(true),
        }
    }

    fn of(&self, addr: IpAddr) -> &Result<Vec<String>, String> {
        if addr.is_ipv6() {
            &self.v6
        } else {
            &self.v4
        }
    }
}

impl Default for HostRules {
    fn default() -> Self {
        HostRules::NotRead("not read".into())
    }
}

/// Reads the filter table when the engine runs on this host (and the raw table where the
/// engine writes to it).
pub(super) fn read(info: &EngineInfo) -> HostRules {
    if let Some(w) = netfilter::lapse_caveat(info) {
        tracing::warn!("{w}");
    }
    if let Err(why) = netfilter::local(info) {
        return HostRules::NotRead(why.to_string());
    }
    match netfilter::filter_lines() {
        Ok(lines) => HostRules::Read {
            major: info.major().unwrap_or(0),
            backend: info.firewall.clone().unwrap_or_else(|| "iptables".into()),
            lines,
            raw: netfilter::drops_direct_routing(info).then(RawTables::read),
        },
        Err(why) => HostRules::NotRead(why.to_string()),
    }
}

/// One row per bridge network of the scope (and one for the path into the chains).
pub(super) fn rows(rules: &Rules, host: &HostRules, nets: &BTreeMap<String, Net>) -> Vec<Row> {
    let (major, backend, lines) = match host {
        HostRules::NotRead(why) => {
            return vec![row(
                "this host",
                "read",
                format!("not checked: {why}"),
                true,
            )];
        }
        HostRules::Read {
            major,
            backend,
            lines,
            ..
        } => (*major, backend, lines),
    };
    let ours: Vec<(&String, &Net)> = nets
        .iter()
        .filter(|(name, n)| !matches!(rules.kind(name, n), Kind::Foreign(_)))
        .filter(|(_, n)| n.bridge.is_some())
        .collect();
    if backend != "iptables" || !(20..29).contains(&major) {
        let what = format!("the rule layout of engine {major} with {backend} is not known to this netfence version: isolation between bridges is not checked");
        return vec![row("this host", "known", what, false)];
    }
    let mut out = vec![path_row(lines)];
    for (name, n) in ours {
        let missing = netfilter::missing(lines, expected(n));
        let observed = if missing.is_empty() {
            "all present".to_owned()
        } else {
            format!("missing `{}`: {RESTORE}", missing.join("`, `"))
        };
        out.push(row(name, "present", observed, missing.is_empty()));
    }
    out
}

/// What to do about a missing rule: dockerd writes its rules as it starts, so a
/// restart puts them back; a reload ordered after it removes them again.
const RESTORE: &str = "restart dockerd to restore its rules; if a firewall reload (firewalld, iptables-persistent) removed them, order that reload before dockerd";

fn row(subject: &str, what: &str, observed: String, ok: bool) -> Row {
    let expected = match what {
        "read" | "known" => "the isolation rules read and judged".to_owned(),
        "path" => format!("FORWARD reaches {STAGE_1} before anything accepts every packet"),
        _ => "its isolation rules in the filter table".to_owned(),
    };
    host_row(subject, expected, observed, ok)
}

fn host_row(subject: &str, expected: String, observed: String, ok: bool) -> Row {
    Row {
        check: "host rules",
        subject: subject.to_owned(),
        expected,
        observed,
        ok,
    }
}

/// One row per running container of the scope and bridge network it has an address on
/// that the engine guards, on engines that write raw-table drops (28); none elsewhere.
pub(super) fn direct_rows(
    host: &HostRules,
    ours: &[Ctr],
    nets: &BTreeMap<String, Net>,
) -> Vec<Row> {
    let HostRules::Read { raw: Some(raw), .. } = host else {
        return Vec::new();
    };
    ours.iter()
        .filter(|c| c.running)
        .flat_map(|c| {
            c.endpoints
                .keys()
                .filter_map(|name| direct_row(raw, c, name, nets.get(name)?))
        })
        .collect()
}

/// Whether the raw table holds the drop of every address `c` has on network `name`.
fn direct_row(raw: &RawTables, c: &Ctr, name: &str, n: &Net) -> Option<Row> {
    let want = direct_drops(c, name, n);
    if want.is_empty() {
        return None;
    }
    let addrs: Vec<String> = want.iter().map(|(a, _)| a.to_string()).collect();
    let expected = format!(
        "raw PREROUTING drops what reaches {} from anywhere but {}",
        addrs.join(", "),
        n.bridge.as_deref().unwrap_or_default()
    );
    let (mut missing, mut unread) = (Vec::new(), None);
    for (addr, rule) in &want {
        match raw.of(*addr) {
            Ok(lines) if lines.contains(rule) => {}
            Ok(_) => missing.push(format!("`{rule}` ({addr})")),
            Err(why) => unread = Some(why),
        }
    }
    let observed = match (missing.is_empty(), unread) {
        // The engine writes a container's drops as the container starts: restarting it
        // is the narrower repair.
        (false, _) => format!(
            "missing {}: restart the container, or {RESTORE}",
            missing.join(", ")
        ),
        // Said, not judged: that family's table could not be read (no ip6tables here).
        (true, Some(why)) => format!("not checked: {why}"),
        (true, None) => "present".to_owned(),
    };
    let subject = format!("{} ({}) on {name}", c.holder, c.name);
    Some(host_row(&subject, expected, observed, missing.is_empty()))
}

/// The drops the engine writes for `c`'s addresses on network `name`: none on a network
/// that is not a bridge or is internal, none for a family its gateway mode leaves open.
fn direct_drops(c: &Ctr, name: &str, n: &Net) -> Vec<(IpAddr, String)> {
    let Some(bridge) = n.bridge.as_deref().filter(|_| !n.internal) else {
        return Vec::new();
    };
    let v4 = c.endpoints.get(name).and_then(|(ip, _)| *ip);
    let v6 = c.ipv6.get(name).copied();
    v4.into_iter()
        .chain(v6)
        .filter(|a| netfilter::guards_family(&n.gateway_modes, a.is_ipv6()))
        .map(|a| (a, netfilter::direct_drop(a, bridge)))
        .collect()
}

/// The rules one bridge network must have.
fn expected(n: &Net) -> Vec<String> {
    match &n.bridge {
        Some(b) => netfilter::expected(b, n.internal, &n.subnets),
        None => Vec::new(),
    }
}

/// Does `FORWARD` reach the first isolation chain, directly or through one chain it
/// jumps to, before a rule that accepts every packet?
fn path_row(lines: &[String]) -> Row {
    let chain = |name: &str| -> Vec<&str> {
        let head = format!("-A {name} ");
        lines.iter().filter_map(|l| l.strip_prefix(&head)).collect()
    };
    let accepts_all = |rule: &str| rule == "-j ACCEPT";
    let reaches = |name: &str| -> Option<bool> {
        for rule in chain(name) {
            if rule == format!("-j {STAGE_1}") {
                return Some(true);
            }
            if accepts_all(rule) {
                return Some(false);
            }
        }
        None
    };
    let mut observed = format!("no rule of FORWARD leads to {STAGE_1}");
    let mut ok = false;
    for rule in chain("FORWARD") {
        if accepts_all(rule) {
            observed = format!("`-A FORWARD {rule}` accepts every packet before {STAGE_1}");
            break;
        }
        let Some(target) = rule.strip_prefix("-j ") else {
            continue;
        };
        if target == STAGE_1 {
            (observed, ok) = ("directly".to_owned(), true);
            break;
        }
        match reaches(target) {
            Some(true) => {
                (observed, ok) = (format!("through {target}"), true);
                break;
            }
            Some(false) => {
                observed = format!("{target} accepts every packet before {STAGE_1}");
                break;
            }
            None => {}
        }
    }
    row("FORWARD", "path", observed, ok)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{ctr, failures, net};
    use super::super::Platform;
    use super::*;

    const TABLE_20: &str = "-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -i br-aaaaaaaaaaaa -o br-aaaaaaaaaaaa -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i br-aaaaaaaaaaaa ! -o br-aaaaaaaaaaaa -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 ! -s 10.9.0.0/24 -o br-bbbbbbbbbbbb -j DROP
-A DOCKER-ISOLATION-STAGE-1 ! -d 10.9.0.0/24 -i br-bbbbbbbbbbbb -j DROP
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o br-aaaaaaaaaaaa -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN";

    fn host(major: u32, table: &str) -> HostRules {
        HostRules::Read {
            major,
            backend: "iptables".into(),
            lines: table.lines().map(str::to_owned).collect(),
            raw: None,
        }
    }

    fn nets() -> BTreeMap<String, Net> {
        let mut front = net("run:t", &[]);
        front.bridge = Some("br-aaaaaaaaaaaa".into());
        let mut back = net("run:t", &[]);
        back.bridge = Some("br-bbbbbbbbbbbb".into());
        back.internal = true;
        back.subnets = vec!["10.9.0.0/24".into()];
        BTreeMap::from([("nf-t-front".into(), front), ("nf-t-back".into(), back)])
    }

    /// The rows for the two networks of [`nets`] in a run scope, under `host`.
    fn judged(host: &HostRules, nets: &BTreeMap<String, Net>) -> Vec<Row> {
        let scope = crate::scope::Scope::Run("t".into());
        let platform = Platform::default();
        let rules = Rules {
            scope: &scope,
            platform: &platform,
            project: None,
        };
        rows(&rules, host, nets)
    }

    #[test]
    fn every_rule_in_place_is_clean_and_a_missing_one_is_named() {
        let all = judged(&host(20, TABLE_20), &nets());
        assert_eq!(all.len(), 3, "the path and one row per network");
        assert!(failures(&all).is_empty(), "{:?}", failures(&all));
        let without = TABLE_20.replace(
            "-A DOCKER-ISOLATION-STAGE-2 -o br-aaaaaaaaaaaa -j DROP\n",
            "",
        );
        let f = failures(&judged(&host(20, &without), &nets()));
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].starts_with("nf-t-front: missing `-A DOCKER-ISOLATION-STAGE-2 -o br-aaaaaaaaaaaa -j DROP`: restart dockerd"), "{f:?}");
        let without = TABLE_20.replace(
            "-A DOCKER-ISOLATION-STAGE-1 ! -d 10.9.0.0/24 -i br-bbbbbbbbbbbb -j DROP\n",
            "",
        );
        assert!(
            failures(&judged(&host(28, &without), &nets()))[0].starts_with("nf-t-back: missing")
        );
    }

    #[test]
    fn forward_must_reach_the_isolation_chain_before_accepting_everything() {
        let through = TABLE_20.replace(
            "-A FORWARD -j DOCKER-ISOLATION-STAGE-1",
            "-A FORWARD -j DOCKER-FORWARD\n-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1",
        );
        let r = judged(&host(28, &through), &nets());
        assert_eq!(r[0].observed, "through DOCKER-FORWARD");
        assert!(r[0].ok);
        // A firewall that puts an accept-all rule first opens every bridge to every other.
        let opened = format!("-A FORWARD -j ACCEPT\n{TABLE_20}");
        let f = failures(&judged(&host(20, &opened), &nets()));
        assert_eq!(f, ["FORWARD: `-A FORWARD -j ACCEPT` accepts every packet before DOCKER-ISOLATION-STAGE-1"]);
        let user = TABLE_20.replace("-A DOCKER-USER -j RETURN", "-A DOCKER-USER -j ACCEPT");
        let f = failures(&judged(&host(20, &user), &nets()));
        assert_eq!(
            f,
            ["FORWARD: DOCKER-USER accepts every packet before DOCKER-ISOLATION-STAGE-1"]
        );
    }

    #[test]
    fn an_unknown_layout_is_a_difference_and_a_remote_engine_is_said_not_checked() {
        let f = failures(&judged(&host(29, TABLE_20), &nets()));
        assert!(
            f[0].contains("engine 29 with iptables is not known"),
            "{f:?}"
        );
        let remote = HostRules::NotRead("the engine runs on host `x`".into());
        let r = judged(&remote, &nets());
        assert!(
            r[0].ok
                && r[0]
                    .observed
                    .starts_with("not checked: the engine runs on host")
        );
    }

    /// `iptables -t raw -S` on Docker 28.5.2 (iptables backend), with containers running
    /// on: a bridge (`br-34a13c48e681`), a dual-stack one (`br-47a6dcb18db9`, two
    /// containers), an internal one (none written), one with trusted host interfaces
    /// `eth0:lo` (`br-922ac8d37394`: accepts before the drop), one in gateway mode
    /// `nat-unprotected` (none written), and the default bridge; the `127.0.0.1/32` drop is
    /// a port published on loopback, not a container's.
    const RAW_28: &str = "-P PREROUTING ACCEPT
-P OUTPUT ACCEPT
-A PREROUTING -d 10.231.77.2/32 ! -i br-34a13c48e681 -j DROP
-A PREROUTING -d 10.231.78.2/32 ! -i br-47a6dcb18db9 -j DROP
-A PREROUTING -d 10.231.78.3/32 ! -i br-47a6dcb18db9 -j DROP
-A PREROUTING -d 10.231.80.2/32 -i eth0 -j ACCEPT
-A PREROUTING -d 10.231.80.2/32 -i lo -j ACCEPT
-A PREROUTING -d 10.231.80.2/32 ! -i br-922ac8d37394 -j DROP
-A PREROUTING -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 32768 -j DROP
-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP
";

    /// `ip6tables -t raw -S` of the same engine at the same moment.
    const RAW6_28: &str = "-P PREROUTING ACCEPT
-P OUTPUT ACCEPT
-A PREROUTING -d fd5e:77:78::2/128 ! -i br-47a6dcb18db9 -j DROP
-A PREROUTING -d fd5e:77:78::3/128 ! -i br-47a6dcb18db9 -j DROP
";

    fn raw_host(v4: &str, v6: Result<&str, &str>) -> HostRules {
        HostRules::Read {
            major: 28,
            backend: "iptables".into(),
            lines: Vec::new(),
            raw: Some(RawTables {
                v4: Ok(netfilter::rule_lines(v4)),
                v6: v6.map(netfilter::rule_lines).map_err(str::to_owned),
            }),
        }
    }

    /// The networks and containers [`RAW_28`] was captured with.
    fn captured() -> (Vec<Ctr>, BTreeMap<String, Net>) {
        let bridge = |b: &str| {
            let mut n = net("run:t", &[]);
            n.bridge = Some(b.into());
            n
        };
        let mut internal = bridge("br-0d942168e619");
        internal.internal = true;
        let mut unprotected = bridge("br-37a876fd7355");
        unprotected.gateway_modes.ipv4 = Some("nat-unprotected".into());
        let nets = BTreeMap::from([
            ("plain".into(), bridge("br-34a13c48e681")),
            ("dual".into(), bridge("br-47a6dcb18db9")),
            ("internal".into(), internal),
            ("trusted".into(), bridge("br-922ac8d37394")),
            ("unprotected".into(), unprotected),
            ("bridge".into(), bridge("docker0")),
        ]);
        let mut c1 = ctr(
            "c1",
            "one",
            &[("plain", "10.231.77.2", &[]), ("dual", "10.231.78.3", &[])],
        );
        c1.ipv6
            .insert("dual".into(), "fd5e:77:78::3".parse().unwrap());
        let mut c2 = ctr("c2", "two", &[("dual", "10.231.78.2", &[])]);
        c2.ipv6
            .insert("dual".into(), "fd5e:77:78::2".parse().unwrap());
        let ctrs = vec![
            c1,
            c2,
            ctr("c3", "three", &[("internal", "10.231.79.2", &[])]),
            ctr("c4", "four", &[("trusted", "10.231.80.2", &[])]),
            ctr("c5", "five", &[("unprotected", "10.231.81.2", &[])]),
            ctr("c6", "six", &[("bridge", "172.17.0.2", &[])]),
        ];
        (ctrs, nets)
    }

    #[test]
    fn engine_28_writes_a_raw_drop_per_guarded_address_and_each_is_found() {
        let (ctrs, nets) = captured();
        let r = direct_rows(&raw_host(RAW_28, Ok(RAW6_28)), &ctrs, &nets);
        let subjects: Vec<&str> = r.iter().map(|r| r.subject.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "one (c1) on dual",
                "one (c1) on plain",
                "two (c2) on dual",
                "four (c4) on trusted",
                "six (c6) on bridge"
            ],
            "none on the internal network nor the nat-unprotected one"
        );
        assert!(failures(&r).is_empty(), "{:?}", failures(&r));
        assert_eq!(
            r[0].expected,
            "raw PREROUTING drops what reaches 10.231.78.3, fd5e:77:78::3 from anywhere but br-47a6dcb18db9"
        );
        assert_eq!(r[0].observed, "present");
    }

    #[test]
    fn a_missing_raw_drop_names_the_container_network_address_and_rule() {
        let (ctrs, nets) = captured();
        let v6 = RAW6_28.replace(
            "-A PREROUTING -d fd5e:77:78::2/128 ! -i br-47a6dcb18db9 -j DROP\n",
            "",
        );
        let f = failures(&direct_rows(&raw_host(RAW_28, Ok(&v6)), &ctrs, &nets));
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].starts_with("two (c2) on dual: missing `-A PREROUTING -d fd5e:77:78::2/128 ! -i br-47a6dcb18db9 -j DROP` (fd5e:77:78::2): restart the container, or restart dockerd"),
            "{f:?}"
        );
        let v4 = RAW_28.replace("-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP\n", "");
        let f = failures(&direct_rows(&raw_host(&v4, Ok(RAW6_28)), &ctrs, &nets));
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].starts_with("six (c6) on bridge: missing `-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP` (172.17.0.2)"), "{f:?}");
    }

    #[test]
    fn raw_drops_are_judged_only_where_the_engine_writes_them() {
        let (mut ctrs, nets) = captured();
        // Before 28 (and on 29 or nftables) the raw table is not read: no rows.
        assert!(direct_rows(&host(20, TABLE_20), &ctrs, &nets).is_empty());
        // A stopped container has none.
        let flushed = raw_host("-P PREROUTING ACCEPT\n", Ok(""));
        ctrs.iter_mut().for_each(|c| c.running = false);
        assert!(direct_rows(&flushed, &ctrs, &nets).is_empty());
        // Without ip6tables, an IPv6 drop is said not checked; the IPv4 ones still are.
        let (ctrs, nets) = captured();
        let r = direct_rows(
            &raw_host(RAW_28, Err("`ip6tables-save` did not run")),
            &ctrs,
            &nets,
        );
        assert!(failures(&r).is_empty(), "{:?}", failures(&r));
        assert_eq!(r[0].observed, "not checked: `ip6tables-save` did not run");
        let r = direct_rows(&raw_host("", Err("no ip6tables")), &ctrs, &nets);
        assert!(
            failures(&r)[0]
                .starts_with("one (c1) on dual: missing `-A PREROUTING -d 10.231.78.3/32"),
            "{:?}",
            failures(&r)
        );
    }
}
