//! Stable host ports (a checkout's stack, see `plan::dev_ports`): what the engine and
//! this host have taken, what the stack itself holds, and the port a bind lost to
//! someone else. The planner chooses; this module reads.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};

use crate::engine::{Engine, EngineResult};
use crate::labels;
use crate::plan::{port_key, HostPorts, Plan};
use crate::yaml::Value;
use crate::Scope;

/// Where the host ports stand for one bring-up: `host` is what the planner is given
/// (taken by others, held by the stack), `own` the ports the stack's containers bind.
#[derive(Debug, Clone, Default)]
pub(super) struct PortBook {
    pub host: HostPorts,
    pub own: BTreeSet<u16>,
}

impl PortBook {
    /// What the engine says about host ports: those of other containers are taken, those
    /// of the scope's own are held (by `service/port/protocol`).
    pub async fn read(engine: &Engine, scope: &Scope) -> EngineResult<PortBook> {
        let uses = engine.port_uses().await?;
        let scope = scope.to_string();
        let mut book = PortBook::default();
        for u in uses {
            let ours = u.labels.get(labels::SCOPE) == Some(&scope);
            let service = u
                .labels
                .get(labels::compose::SERVICE)
                .cloned()
                .unwrap_or_default();
            for b in u.bindings {
                if ours {
                    book.own.insert(b.host_port);
                    book.host
                        .held
                        .entry(port_key(&service, b.container_port, &b.protocol))
                        .or_insert(b.host_port);
                } else {
                    book.host.taken.insert(b.host_port);
                }
            }
        }
        Ok(book)
    }

    /// The ports `plan` chose that something other than the stack binds on this host (a
    /// program the engine does not know of).
    pub fn bound_elsewhere(&self, plan: &Plan) -> Vec<u16> {
        chosen_ports(plan)
            .into_iter()
            .filter(|(p, _)| !self.own.contains(p))
            .filter(|(p, proto)| bound_on_host(*p, proto))
            .map(|(p, _)| p)
            .collect()
    }

    /// Marks `ports` as taken: the next plan chooses others.
    pub fn take(&mut self, ports: &[u16]) {
        self.host.taken.extend(ports);
        self.host.held.retain(|_, h| !ports.contains(h));
    }
}

/// The host ports a plan publishes on, with their protocols.
fn chosen_ports(plan: &Plan) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for change in plan.services.iter().flat_map(|s| &s.ports) {
        let (published, target, protocol) = match &change.after {
            Value::Scalar(_) => {
                let text = crate::yaml::scalar_string(&change.after).unwrap_or_default();
                let sp = crate::port_spec::ShortPort::parse(&text);
                (sp.published, sp.target, None)
            }
            Value::Mapping(m) => (
                m.get("published").and_then(crate::yaml::scalar_string),
                String::new(),
                m.get("protocol").and_then(crate::yaml::scalar_string),
            ),
            _ => continue,
        };
        let Some(published) = published else { continue };
        let protocol = protocol
            .or_else(|| target.split_once('/').map(|(_, p)| p.to_owned()))
            .unwrap_or_else(|| "tcp".into());
        let (a, b) = published
            .split_once('-')
            .unwrap_or((&published, &published));
        if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
            out.extend((a..=b).map(|p| (p, protocol.clone())));
        }
    }
    out
}

/// Is `port` bound on this host by someone (a listener, or a UDP socket)? Only "in
/// use" counts: a host without IPv6 cannot say no for it.
pub fn bound_on_host(port: u16, protocol: &str) -> bool {
    let in_use =
        |r: std::io::Result<()>| r.is_err_and(|e| e.kind() == std::io::ErrorKind::AddrInUse);
    match protocol {
        "udp" => {
            in_use(UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).map(drop))
                || in_use(UdpSocket::bind((Ipv6Addr::UNSPECIFIED, port)).map(drop))
        }
        "tcp" => {
            in_use(TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).map(drop))
                || in_use(TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)).map(drop))
        }
        _ => false,
    }
}

/// The host port named in Compose's error when a bind lost a race: `Bind for
/// 0.0.0.0:21874 failed: port is already allocated`, `listen tcp4 0.0.0.0:21874: bind:
/// address already in use`.
pub(super) fn taken_port(text: &str) -> Option<u16> {
    for marker in [
        " failed: port is already allocated",
        ": bind: address already in use",
    ] {
        if let Some(i) = text.find(marker) {
            let head = &text[..i];
            let digits = head.rsplit(':').next()?;
            return digits.trim().parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Options;

    fn yaml(text: &str) -> Value {
        crate::yaml::parse(&crate::Source::File("t.yml".into()), text).unwrap()
    }

    #[test]
    fn a_port_someone_listens_on_is_bound() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(bound_on_host(port, "tcp"));
        drop(l);
        assert!(!bound_on_host(port, "tcp"));
        let u = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        assert!(bound_on_host(u.local_addr().unwrap().port(), "udp"));
    }

    #[test]
    fn the_port_of_a_lost_bind_race_is_read_from_composes_error() {
        assert_eq!(
            taken_port("Error response from daemon: driver failed programming external connectivity on endpoint x (abc): Bind for 0.0.0.0:21874 failed: port is already allocated"),
            Some(21874)
        );
        assert_eq!(
            taken_port("Error starting userland proxy: listen tcp4 0.0.0.0:20017: bind: address already in use"),
            Some(20017)
        );
        assert_eq!(taken_port("pull access denied"), None);
    }

    #[test]
    fn chosen_ports_reads_short_long_and_ranges() {
        let mut plan_ports = Vec::new();
        for (before, after) in [
            ("8080:80", Value::from("21000:80")),
            ("53:53/udp", Value::from("127.0.0.1:21001:53/udp")),
            ("7000-7001:7000-7001", Value::from("21002-21003:7000-7001")),
            ("x", yaml("{target: 80, published: '21004', protocol: udp}")),
            ("5432", Value::from("5432")),
        ] {
            plan_ports.push(crate::plan::PortChange {
                before: Value::from(before),
                after,
            });
        }
        let (plan, _) =
            crate::fence_str("services: {a: {image: x}}", None, &Options::default()).unwrap();
        let mut plan = plan;
        plan.services[0].ports = plan_ports;
        let got = chosen_ports(&plan);
        let want: Vec<(u16, String)> = [
            (21000, "tcp"),
            (21001, "udp"),
            (21002, "tcp"),
            (21003, "tcp"),
            (21004, "udp"),
        ]
        .into_iter()
        .map(|(p, s)| (p, s.to_owned()))
        .collect();
        assert_eq!(got, want);
    }
}
