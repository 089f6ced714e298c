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
//! Docker 29 replaces the isolation chains and the nftables backend writes no iptables
//! rules: there the layout is not known to this version, which says so as a difference
//! rather than pass a check it did not make. Reading the rules is I/O; judging is pure.

use std::collections::BTreeMap;

use super::fence::{Kind, Rules};
use super::{Net, Row};
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
    },
    NotRead(String),
}

impl Default for HostRules {
    fn default() -> Self {
        HostRules::NotRead("not read".into())
    }
}

/// Reads the filter table when the engine runs on this host.
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
            format!(
                "missing `{}`: restart dockerd to restore its rules; if a firewall reload (firewalld, iptables-persistent) removed them, order that reload before dockerd",
                missing.join("`, `")
            )
        };
        out.push(row(name, "present", observed, missing.is_empty()));
    }
    out
}

fn row(subject: &str, what: &str, observed: String, ok: bool) -> Row {
    let expected = match what {
        "read" | "known" => "the isolation rules read and judged".to_owned(),
        "path" => format!("FORWARD reaches {STAGE_1} before anything accepts every packet"),
        _ => "its isolation rules in the filter table".to_owned(),
    };
    Row {
        check: "host rules",
        subject: subject.to_owned(),
        expected,
        observed,
        ok,
    }
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
    use super::super::testing::{failures, net};
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
}
