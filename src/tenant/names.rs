//! Names a tenant's services answer to beyond their own networks. Compose registers a
//! service's name on every network the service joins, the environment's, shared and
//! proxy networks among them, where other projects reach a service as
//! `<service>.<project>`: a service called `db.blog` in project `shop` would answer for
//! blog's database. (A `container_name` is stripped, and kept as an alias only on the
//! project's own networks: it is not judged here.)

use super::{path, Context, Escape, Kind};
use crate::compose;
use crate::yaml::{scalar_string, untag, Value};

/// Judged in every scope (a run's file may later deploy to an environment); tenant mode,
/// where it refuses, is an environment's.
pub(super) fn qualified(doc: &Value, ctx: &Context<'_>, out: &mut Vec<Escape>) {
    for (name, svc) in compose::services_ref(doc) {
        let subject = format!("service {name}");
        // Compose puts a service-level MAC on the network it takes as main, which can
        // be the environment's (every service joins it in an environment).
        if ctx.scope.is_some_and(|s| s.is_env()) {
            if let Some(mac) = svc.get("mac_address").filter(|v| !v.is_null()) {
                let shown = scalar_string(mac).unwrap_or_else(|| mac.kind().to_owned());
                out.push(Escape::new(
                    Kind::QualifiedName,
                    subject.as_str(),
                    path(&["services", &name, "mac_address"], None),
                    format!("`mac_address: {shown}` fixes the container's MAC on the network Compose takes as its main one, which in an environment can be the one other projects share: it can take one of theirs; leave it to the engine"),
                    None,
                ));
            }
        }
        if name.contains('.') {
            out.push(escape(
                &subject,
                path(&["services", &name], None),
                "service name",
                &name,
            ));
        }
        let Some(Value::Mapping(nets)) = svc.get("networks").map(untag) else {
            continue;
        };
        for (net, attach) in nets {
            // Aliases on the project's own networks answer only there; on an external
            // network (the environment's, joined by name) they answer for everyone.
            let Some(net) = scalar_string(net).filter(|n| external(doc, n)) else {
                continue;
            };
            addresses(&subject, &name, &net, untag(attach), out);
            let Some(Value::Sequence(aliases)) = untag(attach).get("aliases").map(untag) else {
                continue;
            };
            for (i, alias) in aliases.iter().filter_map(scalar_string).enumerate() {
                let at = path(&["services", &name, "networks", &net, "aliases"], Some(i));
                if alias.contains('.') {
                    out.push(escape(&subject, at, "alias", &alias));
                } else {
                    out.push(Escape::new(
                        Kind::QualifiedName,
                        subject.as_str(),
                        at,
                        format!("alias `{alias}` on network `{net}`, which other projects share: it answers their lookups of `{alias}` wherever they have none of their own; netfence gives the service its qualified name there itself (`{name}.<project>`)"),
                        None,
                    ));
                }
            }
        }
    }
}

/// A fixed address on a network other projects share takes one of theirs (an IP, a MAC
/// their neighbours have cached), or makes one easy to take.
fn addresses(subject: &str, service: &str, net: &str, attach: &Value, out: &mut Vec<Escape>) {
    for key in [
        "ipv4_address",
        "ipv6_address",
        "mac_address",
        "link_local_ips",
    ] {
        let Some(value) = attach.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        let shown = scalar_string(value).unwrap_or_else(|| value.kind().to_owned());
        out.push(Escape::new(
            Kind::QualifiedName,
            subject,
            path(&["services", service, "networks", net, key], None),
            format!("`{key}: {shown}` fixes the container's address on network `{net}`, which other projects share: it can take one of theirs; leave addresses there to the engine"),
            None,
        ));
    }
}

fn escape(subject: &str, at: Vec<super::Part>, what: &str, name: &str) -> Escape {
    Escape::new(
        Kind::QualifiedName,
        subject,
        at,
        format!("{what} `{name}` has the shape of another project's qualified name (`<service>.<project>`): on the environment's networks it would answer for that project's service; name it without a dot"),
        None,
    )
}

fn external(doc: &Value, network: &str) -> bool {
    compose::section(doc, "networks")
        .and_then(|m| m.get(network))
        .and_then(|n| untag(n).get("external"))
        .is_some_and(crate::yaml::is_truthy)
}
