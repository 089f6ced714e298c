//! What subnet allocation steers around, each subnet with what holds it: the engine's
//! networks, the host's routes, the Docker daemon's address pools, a subnet the engine
//! refused meanwhile, another copy's plan. The reasons travel with the subnets into the
//! plan, which lists those it met (`avoided`), so `plan` and `ls` can say
//! `10.8.0.0/24: route on wg0`.

use ipnet::IpNet;
use serde::Serialize;

/// A subnet in use, and by what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Avoid {
    pub subnet: IpNet,
    #[serde(flatten)]
    pub holder: Holder,
    /// For people: `route on wg0`, `network nf-a1-default`.
    pub reason: String,
}

/// What holds an avoided subnet. Serialised as `"kind"` plus its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Holder {
    /// A network on the engine.
    Network { name: String },
    /// A route of the host the engine runs on (a VPN, a LAN).
    Route { interface: String },
    /// One of the Docker daemon's default address pools, where Docker takes the subnets
    /// of the networks it allocates itself. Avoided only while the pool has room
    /// elsewhere: a pool that lies inside the daemon's is the platform's choice.
    DaemonPool { source: String },
    /// Refused by the engine as overlapping: a concurrent creator took it meanwhile.
    Refused,
    /// Planned by another copy of the same `run --parallel`.
    Copy { run_id: String },
}

impl Avoid {
    fn new(subnet: IpNet, holder: Holder) -> Avoid {
        let reason = match &holder {
            Holder::Network { name } => format!("network {name}"),
            Holder::Route { interface } => format!("route on {interface}"),
            Holder::DaemonPool { source } => format!("Docker daemon address pool ({source})"),
            Holder::Refused => "taken on the engine meanwhile".to_owned(),
            Holder::Copy { run_id } => format!("planned by copy {run_id}"),
        };
        Avoid {
            subnet: subnet.trunc(),
            holder,
            reason,
        }
    }

    pub fn network(subnet: IpNet, name: impl Into<String>) -> Avoid {
        Avoid::new(subnet, Holder::Network { name: name.into() })
    }

    pub fn route(subnet: IpNet, interface: impl Into<String>) -> Avoid {
        Avoid::new(
            subnet,
            Holder::Route {
                interface: interface.into(),
            },
        )
    }

    pub fn daemon_pool(subnet: IpNet, source: impl Into<String>) -> Avoid {
        Avoid::new(
            subnet,
            Holder::DaemonPool {
                source: source.into(),
            },
        )
    }

    pub fn refused(subnet: IpNet) -> Avoid {
        Avoid::new(subnet, Holder::Refused)
    }

    pub fn copy(subnet: IpNet, run_id: impl Into<String>) -> Avoid {
        Avoid::new(
            subnet,
            Holder::Copy {
                run_id: run_id.into(),
            },
        )
    }

    /// Avoided only while there is room elsewhere (see [`Holder::DaemonPool`]).
    pub fn is_soft(&self) -> bool {
        matches!(self.holder, Holder::DaemonPool { .. })
    }
}

impl std::fmt::Display for Avoid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.subnet, self.reason)
    }
}

/// `a: why, b: why` of the first `n`, and how many more.
pub fn list(avoids: &[&Avoid], n: usize) -> String {
    let mut s: Vec<String> = avoids.iter().take(n).map(ToString::to_string).collect();
    if avoids.len() > n {
        s.push(format!("and {} more", avoids.len() - n));
    }
    s.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_what_holds_the_subnet() {
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(
            Avoid::route(n("10.8.0.1/24"), "wg0").to_string(),
            "10.8.0.0/24: route on wg0"
        );
        let json =
            serde_json::to_value(Avoid::network(n("10.213.4.0/24"), "nf-a-default")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "subnet": "10.213.4.0/24",
                "kind": "network",
                "name": "nf-a-default",
                "reason": "network nf-a-default",
            })
        );
        let pools = [
            Avoid::daemon_pool(n("172.17.0.0/16"), "built-in default"),
            Avoid::refused(n("10.0.0.0/24")),
        ];
        assert!(pools[0].is_soft() && !pools[1].is_soft());
        assert_eq!(
            list(&pools.iter().collect::<Vec<_>>(), 1),
            "172.17.0.0/16: Docker daemon address pool (built-in default), and 1 more"
        );
    }
}
