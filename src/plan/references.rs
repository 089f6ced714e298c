//! Rule 6 and §5: every service and network the policy names must exist in the
//! compose file. A misspelt name would otherwise fence nothing, silently; the error lists
//! the valid names and guesses the intended one.

use crate::error::Result;
use crate::policy::{did_you_mean, escape_pointer, ProxyServices, SharedServices};

use super::ctx::{list, Ctx};
use super::written::Written;

pub(super) fn check(ctx: &Ctx<'_>, written: &Written<'_>) -> Result<()> {
    let policy = ctx.policy();
    for (name, s) in &policy.services {
        let p = escape_pointer(name);
        service(ctx, written, name, format!("/services/{p}"))?;
        for (i, n) in s.networks.iter().flatten().enumerate() {
            network(ctx, written, n, format!("/services/{p}/networks/{i}"))?;
        }
    }
    for name in policy.networks.keys() {
        network(
            ctx,
            written,
            name,
            format!("/networks/{}", escape_pointer(name)),
        )?;
    }
    if let Some(ProxyServices::List(l)) = policy.proxy.as_ref().map(|p| &p.services) {
        for (i, s) in l.iter().enumerate() {
            service(ctx, written, s, format!("/proxy/services/{i}"))?;
        }
    }
    for (k, sh) in &policy.shared {
        for (i, (s, _)) in sh.services.members().iter().enumerate() {
            let p = match &sh.services {
                SharedServices::List(_) => format!("/shared/{}/services/{i}", escape_pointer(k)),
                _ => format!(
                    "/shared/{}/services/{}",
                    escape_pointer(k),
                    escape_pointer(s)
                ),
            };
            service(ctx, written, s, p)?;
        }
    }
    for (i, s) in policy.environment.exclude.iter().enumerate() {
        service(ctx, written, s, format!("/environment/exclude/{i}"))?;
    }
    Ok(())
}

fn service(ctx: &Ctx<'_>, written: &Written<'_>, name: &str, pointer: String) -> Result<()> {
    if written.services.contains_key(name) {
        return Ok(());
    }
    let names: Vec<String> = written.services.keys().cloned().collect();
    Err(ctx.policy_err(
        pointer,
        format!(
            "unknown service `{name}`{}: the compose file has {}",
            hint(name, &names),
            list(&names)
        ),
    ))
}

fn network(ctx: &Ctx<'_>, written: &Written<'_>, name: &str, pointer: String) -> Result<()> {
    let keys = &written.network_keys;
    if keys.iter().any(|k| k == name) {
        return Ok(());
    }
    Err(ctx.policy_err(
        pointer,
        format!(
            "unknown network `{name}`{}: the compose file has {}",
            hint(name, keys),
            list(keys)
        ),
    ))
}

fn hint(name: &str, candidates: &[String]) -> String {
    did_you_mean(name, candidates)
        .map(|b| format!(" (did you mean `{b}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;
    use crate::plan::written;

    const COMPOSE: &str = "services: {web: {}, worker: {}}\nnetworks: {front: {}, back: {}}";

    fn error(policy: &str) -> Option<String> {
        let w = World::new(COMPOSE, policy);
        w.run(|ctx| check(ctx, &written::read(ctx).unwrap()).err())
            .map(|e| e.to_string())
    }

    #[test]
    fn known_names_pass() {
        assert_eq!(
            error("services: { web: { networks: [front, default] } }\nnetworks: { back: { internal: true } }"),
            None
        );
    }

    #[test]
    fn a_misspelt_service_gets_a_guess_and_the_valid_names() {
        let e = error("services: { wroker: { aliases: [x] } }").unwrap();
        assert!(e.contains("policy at /services/wroker"), "{e}");
        assert!(e.contains("did you mean `worker`?"), "{e}");
        assert!(e.contains("the compose file has `web`, `worker`"), "{e}");
    }

    #[test]
    fn an_unknown_network_lists_the_implicit_default_too() {
        let e = error("services: { web: { networks: [front, bakc] } }").unwrap();
        assert!(e.contains("/services/web/networks/1"), "{e}");
        assert!(e.contains("did you mean `back`?"), "{e}");
        assert!(e.contains("`front`, `back`, `default`"), "{e}");
    }

    #[test]
    fn shared_members_are_pointed_at_by_position_or_by_name() {
        let e = error("shared: { infra: { name: infra, services: [web, wrker] } }").unwrap();
        assert!(e.contains("/shared/infra/services/1"), "{e}");
        let e = error("shared: { infra: { name: infra, services: { wrker: [w] } } }").unwrap();
        assert!(e.contains("/shared/infra/services/wrker"), "{e}");
    }

    #[test]
    fn proxy_and_environment_lists_are_checked() {
        let e = error("proxy: { services: [api] }").unwrap();
        assert!(e.contains("/proxy/services/0"), "{e}");
        let e = error("environment: { exclude: [web, db] }").unwrap();
        assert!(e.contains("/environment/exclude/1"), "{e}");
    }
}
