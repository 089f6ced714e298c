//! Host ports: the ports below 1024 are the host's own services' (its SSH, its mail,
//! its DNS) and the platform's proxy's (80 and 443). A tenant's container published on
//! one takes it from them whenever it is free (a restart of the proxy is enough), and
//! answers what was meant for them: another tenant's ACME challenges, for one.

use super::{path, Escape, Kind, Part};
use crate::compose;
use crate::policy::{Policy, PortsMode};
use crate::port_spec::ShortPort;
use crate::yaml::{scalar_string, untag, Value};

/// The lowest port an unprivileged process may bind: the ones below are the host's.
const FIRST_UNPRIVILEGED: u16 = 1024;

pub(super) fn privileged(doc: &Value, policy: &Policy, out: &mut Vec<Escape>) {
    // `ephemeral` and `loopback` drop every fixed host port before Compose sees it.
    if !matches!(policy.ports, None | Some(PortsMode::Keep)) {
        return;
    }
    for (name, svc) in compose::services_ref(doc) {
        let Some(Value::Sequence(ports)) = svc.get("ports").map(untag) else {
            continue;
        };
        for (i, p) in ports.iter().enumerate() {
            let p = untag(p);
            let published = match p {
                Value::Mapping(m) => m.get("published").and_then(scalar_string),
                _ => scalar_string(p).and_then(|s| ShortPort::parse(&s).published),
            };
            let Some(published) = published.filter(|p| below(p, FIRST_UNPRIVILEGED)) else {
                continue;
            };
            let mut at = path(&["services", &name, "ports"], Some(i));
            if matches!(p, Value::Mapping(_)) {
                at.push(Part::Key("published".into()));
            }
            out.push(Escape::new(
                Kind::HostPort,
                format!("service {name}"),
                at,
                format!("publishes host port {published}, one of the host's own (below 1024: its SSH, mail and DNS, the proxy's 80 and 443): the container takes it whenever it is free and answers what was meant for them; publish a port from 1024 up, or none (the proxy reaches the service)"),
                Some(published),
            ));
        }
    }
}

/// Whether `published` (`N` or `A-B`) holds a port below `limit`.
fn below(published: &str, limit: u16) -> bool {
    let first = published.split('-').next().unwrap_or(published);
    first.trim().parse::<u16>().is_ok_and(|p| p < limit)
}

/// Whether `tenant.allow.host_ports` (ports `N` or ranges `A-B`) holds all of
/// `published`.
pub(super) fn granted(allowed: &[String], published: &str) -> bool {
    let range = |s: &str| -> Option<(u16, u16)> {
        let (a, b) = s.split_once('-').unwrap_or((s, s));
        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
    };
    let Some((lo, hi)) = range(published) else {
        return false;
    };
    allowed
        .iter()
        .filter_map(|a| range(a))
        .any(|(a, b)| a <= lo && hi <= b)
}

#[cfg(test)]
mod tests {
    use super::{below, granted};

    #[test]
    fn a_range_is_below_when_it_starts_below() {
        assert!(below("80", 1024));
        assert!(below("1000-1100", 1024));
        assert!(!below("1024", 1024));
        assert!(!below("8080-8090", 1024));
    }

    #[test]
    fn a_grant_holds_a_port_or_a_whole_range() {
        let allowed = vec!["25".to_owned(), "100-200".to_owned()];
        assert!(granted(&allowed, "25"));
        assert!(granted(&allowed, "110-143"));
        assert!(!granted(&allowed, "80"));
        assert!(!granted(&allowed, "190-210"));
    }
}
