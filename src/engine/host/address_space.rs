//! The address space around the engine: besides its networks' subnets, what subnet
//! allocation must steer around when the engine runs on this host — the host's own
//! routes (a VPN, a LAN) and the Docker daemon's default address pools.
//!
//! The engine is local when `DOCKER_HOST` is unset or a unix socket: then this host's
//! routing table is the engine's. A remote engine's host is unknown here, so only what
//! the engine itself reports is used.
//!
//! The daemon's pools come from the engine's info when it reports them (Docker 27 and
//! later); Docker 20.10 does not. Then, for a local engine, from `default-address-pools`
//! in `/etc/docker/daemon.json`, else Docker's documented built-in defaults — each
//! labelled with where it came from, since the last two are what the daemon was most
//! likely started with, not what it said.

use std::path::Path;

use ipnet::IpNet;
use serde::Serialize;

use crate::avoid::Avoid;
use crate::engine::client::docker::EngineInfo;
use crate::routes::{self, Route};

/// Where dockerd reads its configuration file by default.
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// Docker's built-in local address pools (libnetwork `ipamutils`): base and the prefix
/// length of the networks carved from it — 15 networks of /16 and 16 of /20, the
/// "about thirty networks" after which `docker network create` fails with "all
/// predefined address pools have been fully subnetted".
pub const BUILT_IN_POOLS: [(&str, u8); 7] = [
    ("172.17.0.0/16", 16),
    ("172.18.0.0/16", 16),
    ("172.19.0.0/16", 16),
    ("172.20.0.0/14", 16),
    ("172.24.0.0/14", 16),
    ("172.28.0.0/14", 16),
    ("192.168.0.0/16", 20),
];

/// One default address pool of the daemon: networks of `/size` carved from `base`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DaemonPool {
    pub base: IpNet,
    pub size: u8,
}

/// Where the daemon's pools were learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolSource {
    /// The engine's info reported them.
    Engine,
    /// `default-address-pools` in the daemon's configuration file.
    DaemonJson,
    /// The engine does not report them and no configuration names any: Docker's
    /// documented built-in defaults, assumed.
    BuiltIn,
}

impl PoolSource {
    pub fn describe(&self) -> &'static str {
        match self {
            PoolSource::Engine => "reported by the engine",
            PoolSource::DaemonJson => "default-address-pools in /etc/docker/daemon.json",
            PoolSource::BuiltIn => {
                "Docker's built-in default; the engine does not report its pools"
            }
        }
    }
}

/// The daemon's default address pools and where they were learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonPools {
    pub source: PoolSource,
    pub pools: Vec<DaemonPool>,
}

/// Where the engine is reached: `DOCKER_HOST`, else the default socket.
pub fn engine_address() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => h,
        _ => "unix:///var/run/docker.sock".to_owned(),
    }
}

/// Is the engine on this host (`DOCKER_HOST` unset, empty or `unix://…`)?
pub fn engine_is_local() -> bool {
    is_local(std::env::var("DOCKER_HOST").ok().as_deref())
}

fn is_local(docker_host: Option<&str>) -> bool {
    match docker_host {
        None | Some("") => true,
        Some(h) => h.starts_with("unix://"),
    }
}

/// The daemon's pools: as reported, else (local engine) from its configuration file,
/// else the built-in defaults.
pub fn daemon_pools(reported: &[(String, u8)], local: bool) -> DaemonPools {
    let from_engine: Vec<DaemonPool> = reported
        .iter()
        .filter_map(|(base, size)| pool(base, *size))
        .collect();
    if !from_engine.is_empty() {
        return DaemonPools {
            source: PoolSource::Engine,
            pools: from_engine,
        };
    }
    if local {
        let configured = std::fs::read_to_string(Path::new(DAEMON_JSON))
            .ok()
            .and_then(|t| pools_in_daemon_json(&t));
        if let Some(pools) = configured {
            return DaemonPools {
                source: PoolSource::DaemonJson,
                pools,
            };
        }
    }
    DaemonPools {
        source: PoolSource::BuiltIn,
        pools: BUILT_IN_POOLS
            .iter()
            .filter_map(|(b, s)| pool(b, *s))
            .collect(),
    }
}

fn pool(base: &str, size: u8) -> Option<DaemonPool> {
    let base: IpNet = base.trim().parse().ok()?;
    (size >= base.prefix_len() && size <= base.max_prefix_len()).then_some(DaemonPool {
        base: base.trunc(),
        size,
    })
}

/// `"default-address-pools": [{"base": "10.10.0.0/16", "size": 24}]` of a daemon.json.
pub fn pools_in_daemon_json(text: &str) -> Option<Vec<DaemonPool>> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let list = v.get("default-address-pools")?.as_array()?;
    let pools: Vec<DaemonPool> = list
        .iter()
        .filter_map(|p| {
            let size = u8::try_from(p.get("size")?.as_u64()?).ok()?;
            pool(p.get("base")?.as_str()?, size)
        })
        .collect();
    (!pools.is_empty()).then_some(pools)
}

/// What the engine's host holds besides the engine's networks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSpace {
    /// The engine runs on this host: its routes are this host's.
    pub local: bool,
    /// This host's routes (empty for a remote engine).
    pub routes: Vec<Route>,
    pub daemon_pools: DaemonPools,
}

impl HostSpace {
    /// Reads this host's routes when the engine is local; the pools from what the engine
    /// reported (see [`daemon_pools`]).
    pub fn read(info: &EngineInfo) -> HostSpace {
        let local = engine_is_local();
        HostSpace {
            local,
            routes: if local { routes::read() } else { Vec::new() },
            daemon_pools: daemon_pools(&info.default_address_pools, local),
        }
    }

    /// What allocation avoids for the host: its routes, and the daemon's pools when the
    /// engine reported them or runs here (a guess about a remote daemon is no reason to
    /// steer around anything).
    pub fn avoid(&self) -> Vec<Avoid> {
        let mut out: Vec<Avoid> = self
            .routes
            .iter()
            .map(|r| Avoid::route(r.subnet, &r.interface))
            .collect();
        if self.local || self.daemon_pools.source == PoolSource::Engine {
            let source = match self.daemon_pools.source {
                PoolSource::Engine => "reported by the engine",
                PoolSource::DaemonJson => "daemon.json",
                PoolSource::BuiltIn => "Docker's built-in default",
            };
            out.extend(
                self.daemon_pools
                    .pools
                    .iter()
                    .map(|p| Avoid::daemon_pool(p.base, source)),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_unix_socket_or_nothing_is_local() {
        assert!(is_local(None));
        assert!(is_local(Some("")));
        assert!(is_local(Some("unix:///run/user/1000/docker.sock")));
        assert!(!is_local(Some("tcp://10.0.0.5:2376")));
        assert!(!is_local(Some("ssh://deploy@build-1")));
    }

    #[test]
    fn reported_pools_win_then_the_built_in_defaults_labelled_so() {
        let reported = [("10.10.0.0/16".to_owned(), 24)];
        let p = daemon_pools(&reported, false);
        assert_eq!(p.source, PoolSource::Engine);
        assert_eq!(p.pools[0].base.to_string(), "10.10.0.0/16");
        let p = daemon_pools(&[], false);
        assert_eq!(p.source, PoolSource::BuiltIn);
        assert_eq!(p.pools.len(), 7);
        let networks: u32 = p
            .pools
            .iter()
            .map(|p| 1 << (p.size - p.base.prefix_len()))
            .sum();
        assert_eq!(networks, 31, "Docker's \"about thirty\" networks");
    }

    #[test]
    fn daemon_json_pools_are_read_and_bad_entries_left_out() {
        let text = r#"{"log-level": "warn", "default-address-pools": [
            {"base": "10.10.0.0/16", "size": 24}, {"base": "nonsense", "size": 24},
            {"base": "10.11.0.0/16", "size": 8}]}"#;
        let pools = pools_in_daemon_json(text).unwrap();
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0].size, 24);
        assert_eq!(pools_in_daemon_json(r#"{"debug": true}"#), None);
        assert_eq!(pools_in_daemon_json("not json"), None);
    }

    #[test]
    fn a_remote_engines_guessed_pools_are_not_avoided() {
        let space = |local, source| HostSpace {
            local,
            routes: Vec::new(),
            daemon_pools: DaemonPools {
                source,
                pools: vec![pool("172.17.0.0/16", 16).unwrap()],
            },
        };
        assert!(space(false, PoolSource::BuiltIn).avoid().is_empty());
        assert_eq!(space(false, PoolSource::Engine).avoid().len(), 1);
        let local = space(true, PoolSource::BuiltIn).avoid();
        assert_eq!(
            local[0].to_string(),
            "172.17.0.0/16: Docker daemon address pool (Docker's built-in default)"
        );
    }
}
