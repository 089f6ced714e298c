//! The host's netfilter rules that isolate a bridge network, as dockerd's iptables backend
//! writes them from Docker 20.10 to 28 (moby's `libnetwork/drivers/bridge` isolation
//! chains). Between bridges, isolation is nothing but these rules: `verify` judges them
//! for a live scope, and `run`, `up` and `ensure` check the networks they create before
//! any container starts (the engine applies them after the bridge is up).
//!
//! - a bridge `B` that is not internal: `-A DOCKER-ISOLATION-STAGE-1 -i B ! -o B -j
//!   DOCKER-ISOLATION-STAGE-2` and `-A DOCKER-ISOLATION-STAGE-2 -o B -j DROP`;
//! - an internal bridge, per IPv4 subnet `S`: `-A DOCKER-ISOLATION-STAGE-1 ! -s S -o B -j
//!   DROP` and `! -d S -i B -j DROP`.
//!
//! Docker 28 also drops, in the raw table, what reaches a container's address from
//! anywhere but its bridge ("direct routing" from another host, or from another bridge
//! through the host): per running container, network and address `A` (`/32`, or `/128`
//! in ip6tables), `-A PREROUTING -d A ! -i B -j DROP` (moby's `filterDirectAccess`). It
//! writes none on an internal network (whose subnet drops stand in), none for a family
//! whose gateway mode is `routed` or `nat-unprotected` (they let hosts route in on
//! purpose), and none when dockerd runs with `--allow-direct-routing` or without raw
//! rules (`DOCKER_INSECURE_NO_IPTABLES_RAW`), which the engine's API does not show.
//! Trusted host interfaces (`com.docker.network.bridge.trusted_host_interfaces`) add
//! accepts before the drop: they open, so a missing one is no breach.
//!
//! Docker 29 replaces the isolation chains, and the nftables backend writes none of this.
//!
//! Engines before 28 also lapse: each time any bridge network is created on the host,
//! the bridge driver re-inserts FORWARD's jump to `DOCKER-ISOLATION-STAGE-1` by deleting
//! it and inserting it again (`EnsureJumpRule`, two iptables runs). Between the two,
//! FORWARD accepts what leaves any bridge for any other. `scripts/isolation-window.sh`
//! measures it; 28 jumps through `DOCKER-FORWARD`, which it creates once.

use std::net::IpAddr;
use std::time::Duration;

use crate::engine::client::docker::{EngineInfo, GatewayModes, LiveNetwork};
use crate::engine::{Engine, EngineError, EngineResult};

pub const STAGE_1: &str = "DOCKER-ISOLATION-STAGE-1";
pub const STAGE_2: &str = "DOCKER-ISOLATION-STAGE-2";

/// Does the engine run on this host (by its host name)? Else why not.
pub fn local(info: &EngineInfo) -> EngineResult<()> {
    let here = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    if info.name.is_empty() || info.name != here {
        return Err(EngineError::Host {
            path: None,
            message: format!(
                "the engine runs on host `{}`, not on this one (`{here}`)",
                info.name
            ),
        });
    }
    Ok(())
}

/// Is the rule layout of this engine the one this module knows?
pub fn known_layout(info: &EngineInfo) -> bool {
    let backend = info.firewall.as_deref().unwrap_or("iptables");
    backend == "iptables" && info.major().is_some_and(|m| (20..29).contains(&m))
}

/// Does this engine drop isolation between bridges for a moment whenever a bridge
/// network is created (engines before 28 with the iptables backend)?
pub fn lapses_on_create(info: &EngineInfo) -> bool {
    let backend = info.firewall.as_deref().unwrap_or("iptables");
    backend == "iptables" && info.major().is_some_and(|m| m < 28)
}

/// The warning for an engine that [`lapses_on_create`], once per process: it holds for
/// every network on the host, not for one plan.
pub fn lapse_caveat(info: &EngineInfo) -> Option<String> {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !lapses_on_create(info) || SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    Some(format!(
        "Docker Engine {} removes and re-inserts the firewall's jump to {STAGE_1} each time a \
         bridge network is created on this host: for that moment, containers on one bridge \
         network reach containers on every other, internal ones included (engines since 28 \
         keep the jump); deploy tenants on Docker 28 or later",
        info.version
    ))
}

/// The `-A CHAIN …` lines of the host's filter table, in order (`iptables-save`).
pub fn filter_lines() -> EngineResult<Vec<String>> {
    saved("iptables-save", "filter")
}

/// The `-A CHAIN …` lines of the host's raw table for one address family, in order.
pub fn raw_lines(ipv6: bool) -> EngineResult<Vec<String>> {
    let program = if ipv6 {
        "ip6tables-save"
    } else {
        "iptables-save"
    };
    saved(program, "raw")
}

/// One table as `program` (`iptables-save`, `ip6tables-save`) prints it: its rules.
fn saved(program: &str, table: &str) -> EngineResult<Vec<String>> {
    let out = std::process::Command::new(program)
        .args(["-t", table])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| EngineError::Host {
            path: None,
            message: format!("`{program}` did not run: {e}"),
        })?;
    if !out.status.success() {
        return Err(EngineError::Host {
            path: None,
            message: format!(
                "`{program}` failed ({}): reading netfilter needs root",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(rule_lines(&String::from_utf8_lossy(&out.stdout)))
}

/// The `-A CHAIN …` lines of `iptables-save` (or `iptables -S`) output, each with its
/// words single-spaced: what the rules are compared as. Policies, counters and comments
/// are left out.
pub fn rule_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("-A "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The rules one bridge network must have.
pub fn expected(bridge: &str, internal: bool, subnets: &[String]) -> Vec<String> {
    let b = bridge;
    if !internal {
        return vec![
            format!("-A {STAGE_1} -i {b} ! -o {b} -j {STAGE_2}"),
            format!("-A {STAGE_2} -o {b} -j DROP"),
        ];
    }
    subnets
        .iter()
        .filter(|s| !s.contains(':'))
        .flat_map(|s| {
            [
                format!("-A {STAGE_1} ! -s {s} -o {b} -j DROP"),
                format!("-A {STAGE_1} ! -d {s} -i {b} -j DROP"),
            ]
        })
        .collect()
}

/// Does this engine drop, in the raw table, what reaches a container from elsewhere than
/// its bridge (Docker 28 with the iptables backend; 29's layout is not known here)?
pub fn drops_direct_routing(info: &EngineInfo) -> bool {
    let backend = info.firewall.as_deref().unwrap_or("iptables");
    backend == "iptables" && info.major() == Some(28)
}

/// Does the engine write the direct-routing drop for an address of this family on a
/// bridge with these gateway modes? `routed` and `nat-unprotected` let other hosts
/// reach the containers on purpose.
pub fn guards_family(modes: &GatewayModes, ipv6: bool) -> bool {
    let mode = if ipv6 { &modes.ipv6 } else { &modes.ipv4 };
    !matches!(mode.as_deref(), Some("routed" | "nat-unprotected"))
}

/// The raw-table rule that drops what reaches `addr` from anywhere but `bridge`, as
/// `iptables-save` (or `ip6tables-save`) prints it.
pub fn direct_drop(addr: IpAddr, bridge: &str) -> String {
    let prefix = if addr.is_ipv6() { 128 } else { 32 };
    format!("-A PREROUTING -d {addr}/{prefix} ! -i {bridge} -j DROP")
}

/// Of `expected`, the rules `lines` lacks.
pub fn missing(lines: &[String], expected: Vec<String>) -> Vec<String> {
    expected
        .into_iter()
        .filter(|want| !lines.iter().any(|l| l == want))
        .collect()
}

/// How long a new network's rules may take to appear, and how often they are looked for.
const SETTLE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(100);

impl Engine {
    /// Waits until the host has the isolation rules of every network named (just created
    /// by this process), so that no container starts on a bridge other bridges still
    /// reach. Checked only where it can be: the engine on this host, a layout this module
    /// knows, the rules readable (root); elsewhere it returns at once.
    pub async fn settle_isolation(&self, names: &[String]) -> EngineResult<()> {
        let info = self.info().await?;
        if let Some(w) = lapse_caveat(&info) {
            tracing::warn!("{w}");
        }
        if names.is_empty() || local(&info).is_err() || !known_layout(&info) {
            return Ok(());
        }
        let mut nets: Vec<LiveNetwork> = Vec::new();
        for n in names {
            nets.extend(
                crate::engine::client::docker::found(self.inspect_network(n).await)
                    .map_err(|e| e.doing(format!("inspecting network {n}")))?,
            );
        }
        let wanted: Vec<(String, Vec<String>)> = nets
            .iter()
            .filter_map(|n| {
                Some((
                    n.name.clone(),
                    expected(&n.bridge()?, n.internal, &n.subnets),
                ))
            })
            .collect();
        let deadline = tokio::time::Instant::now() + SETTLE;
        loop {
            let lines = match tokio::task::spawn_blocking(filter_lines).await {
                Ok(Ok(l)) => l,
                // Not readable here (no root): nothing to wait for.
                _ => return Ok(()),
            };
            let lacking: Vec<String> = wanted
                .iter()
                .flat_map(|(name, want)| {
                    missing(&lines, want.clone())
                        .into_iter()
                        .map(move |r| format!("{name}: `{r}`"))
                })
                .collect();
            if lacking.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::refused(format!(
                    "the engine created network(s) without their isolation rules after {SETTLE:?} (missing {}): not starting containers that other bridges could reach; restart dockerd, and if a firewall reload removes Docker's rules, order it before dockerd",
                    lacking.join(", ")
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_of_a_bridge_and_of_an_internal_one() {
        assert_eq!(
            expected("br-1", false, &["10.0.0.0/24".into()]),
            [
                "-A DOCKER-ISOLATION-STAGE-1 -i br-1 ! -o br-1 -j DOCKER-ISOLATION-STAGE-2",
                "-A DOCKER-ISOLATION-STAGE-2 -o br-1 -j DROP"
            ]
        );
        let internal = expected("br-2", true, &["10.0.1.0/24".into(), "fd00::/64".into()]);
        assert_eq!(
            internal.len(),
            2,
            "IPv6 subnets are ip6tables': {internal:?}"
        );
        let lines = vec![internal[0].clone()];
        assert_eq!(missing(&lines, internal.clone()), [internal[1].clone()]);
    }

    #[test]
    fn only_the_layouts_of_20_10_to_28_with_iptables_are_known() {
        let info = |v: &str, fw: Option<&str>| EngineInfo {
            version: v.into(),
            firewall: fw.map(str::to_owned),
            ..EngineInfo::default()
        };
        assert!(known_layout(&info("20.10.24+dfsg1", None)));
        assert!(known_layout(&info("28.5.2", Some("iptables"))));
        assert!(!known_layout(&info("28.5.2", Some("nftables"))));
        assert!(!known_layout(&info("29.0.0", Some("iptables"))));
    }

    #[test]
    fn engines_before_28_lapse_while_networks_are_created() {
        let info = |v: &str| EngineInfo {
            version: v.into(),
            ..EngineInfo::default()
        };
        assert!(lapses_on_create(&info("20.10.24+dfsg1")));
        assert!(lapses_on_create(&info("27.5.1")));
        assert!(!lapses_on_create(&info("28.5.2+dfsg4")));
        assert!(
            !lapses_on_create(&info("")),
            "an engine that says no version is not blamed"
        );
    }

    #[test]
    fn a_containers_direct_routing_drop_as_the_engine_prints_it() {
        assert_eq!(
            direct_drop("10.231.77.2".parse().unwrap(), "br-34a13c48e681"),
            "-A PREROUTING -d 10.231.77.2/32 ! -i br-34a13c48e681 -j DROP"
        );
        assert_eq!(
            direct_drop("fd5e:77:78:0:0:0:0:2".parse().unwrap(), "br-47a6dcb18db9"),
            "-A PREROUTING -d fd5e:77:78::2/128 ! -i br-47a6dcb18db9 -j DROP"
        );
        let open = GatewayModes {
            ipv4: Some("nat-unprotected".into()),
            ipv6: Some("routed".into()),
        };
        assert!(!guards_family(&open, false) && !guards_family(&open, true));
        assert!(guards_family(&GatewayModes::default(), true));
        let nat = GatewayModes {
            ipv4: Some("nat".into()),
            ipv6: Some("isolated".into()),
        };
        assert!(guards_family(&nat, false) && guards_family(&nat, true));
    }

    #[test]
    fn only_engine_28_with_iptables_writes_raw_drops() {
        let info = |v: &str, fw: Option<&str>| EngineInfo {
            version: v.into(),
            firewall: fw.map(str::to_owned),
            ..EngineInfo::default()
        };
        assert!(drops_direct_routing(&info("28.5.2+dfsg4", None)));
        assert!(drops_direct_routing(&info("28.0.0", Some("iptables"))));
        assert!(!drops_direct_routing(&info("20.10.24+dfsg1", None)));
        assert!(!drops_direct_routing(&info("27.5.1", None)));
        assert!(!drops_direct_routing(&info("28.5.2", Some("nftables"))));
        assert!(!drops_direct_routing(&info("29.0.0", Some("iptables"))));
    }

    #[test]
    fn rule_lines_keep_rules_single_spaced_and_leave_the_rest() {
        let saved = "# Generated by iptables-save v1.8.9 (nf_tables)\n*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -d 10.231.77.2/32  ! -i br-34a13c48e681 -j DROP\nCOMMIT\n";
        assert_eq!(
            rule_lines(saved),
            ["-A PREROUTING -d 10.231.77.2/32 ! -i br-34a13c48e681 -j DROP"]
        );
    }
}
