//! Trust: in tenant mode — the default in env scope — the compose file is a
//! tenant's and may not reach past its own fence. Every escape the file holds that the
//! platform's policy does not grant under `tenant.allow` is refused, all in one error.

use crate::error::{Error, Result};
use crate::tenant::{self, Context};

use super::ctx::Ctx;
use super::project::{given_project, Identity};
use super::NetworkPlan;

pub(super) fn enforce(ctx: &Ctx<'_>, id: &Identity, networks: &[NetworkPlan]) -> Result<()> {
    let policy = ctx.policy();
    if !policy.tenant_mode(&id.scope) {
        return Ok(());
    }
    let mut escapes = tenant::escapes(ctx.inputs.doc, policy, &context(ctx, id, networks));
    escapes.extend(ctx.closing.iter().cloned().map(|mut e| {
        e.granted = tenant::is_granted(&e, policy);
        e
    }));
    let refused = tenant::refused(&escapes);
    if refused.is_empty() {
        return Ok(());
    }
    Err(Error::Tenant {
        source_name: ctx.inputs.source.clone(),
        refusals: refused.iter().map(|e| e.describe()).collect(),
    })
}

/// In tenant mode, the document closed (see `tenant::close`); `None` otherwise.
pub(super) fn close(ctx: &Ctx<'_>) -> Result<Option<tenant::Closed>> {
    if !ctx.tenant_mode() {
        return Ok(None);
    }
    let policy = ctx.policy();
    let inputs = tenant::CloseInputs {
        environ: &ctx.opts.environ,
        allowed: &policy.tenant.environment,
        project_dir: ctx.inputs.project_dir,
        host: ctx.inputs.host,
    };
    tenant::close(ctx.inputs.doc.clone(), &inputs)
        .map(Some)
        .map_err(|e| ctx.compose_err(e.to_string()))
}

/// What the platform's side knows: its scope and project, the networks this plan
/// assigns, what the engine labels, and the names the policy gives other scopes'.
fn context<'a>(ctx: &Ctx<'a>, id: &'a Identity, networks: &[NetworkPlan]) -> Context<'a> {
    Context {
        scope: Some(&id.scope),
        project: given_project(ctx.opts),
        project_name: Some(&id.project_name),
        assigned: super::assigned_names(networks),
        known: &ctx.opts.known_networks,
        foreign_patterns: tenant::foreign_patterns(ctx.policy()),
        environ: Some(&ctx.opts.environ),
        project_dir: Some(ctx.inputs.project_dir),
        record: ctx.inputs.record,
        references: ctx.inputs.references,
        host: ctx.inputs.host,
    }
}

#[cfg(test)]
mod tests {
    use crate::plan::ctx::testing::World;
    use crate::plan::plan;

    const PLATFORM: &str = "environment: {network: \"{{ prefix }}-env-{{ env }}\"}\nproxy: {network: \"{{ prefix }}-proxy\"}\n";

    fn plan_of(w: &World) -> crate::Result<crate::Plan> {
        w.run(|ctx| plan(ctx.inputs, ctx.opts))
    }

    #[test]
    fn an_env_scope_refuses_every_escape_at_once_naming_service_key_and_grant() {
        let w = World::new(
            "services:\n  api: {network_mode: host}\n  db: {privileged: true}\nnetworks:\n  theirs: {external: true, name: nf-env-staging}\n",
            PLATFORM,
        )
        .env("prod");
        let e = plan_of(&w).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Input);
        let text = e.to_string();
        for part in [
            "network theirs",
            "nf-env-staging",
            "service api",
            "`services.api.network_mode`",
            "tenant.allow.host_network: true",
            "service db",
            "tenant.allow.privileged: true",
        ] {
            assert!(text.contains(part), "missing {part:?} in:\n{text}");
        }
    }

    #[test]
    fn the_platform_grants_and_a_run_trusts() {
        let compose = "services:\n  api: {network_mode: host}\n";
        let granted = World::new(
            compose,
            &format!("{PLATFORM}tenant: {{allow: {{host_network: true}}}}"),
        )
        .env("prod");
        assert!(plan_of(&granted).is_ok());
        let run = World::new(compose, PLATFORM);
        assert!(plan_of(&run).is_ok(), "run scope is the user's own stack");
        let off = World::new(compose, &format!("{PLATFORM}tenant: {{enabled: false}}")).env("prod");
        assert!(plan_of(&off).is_ok());
    }

    /// The plan sees the host only through what loading hands it: the same file is
    /// judged by where its links lead on that host, and reads that host's `.env`.
    #[test]
    fn host_files_are_judged_as_the_host_handed_in_has_them() {
        use crate::load::host::Memory;
        let compose = "services:\n  api: {image: app, volumes: [./conf:/c], environment: {TAG: \"${TAG}\"}}\n";
        let project = |conf_is_link: bool| {
            let host = Memory::default().file("/srv/shop/.env", "TAG=from-dotenv\n");
            let host = if conf_is_link {
                host.link("/srv/shop/conf", "/etc").dir("/etc")
            } else {
                host.dir("/srv/shop/conf")
            };
            World::new(compose, PLATFORM)
                .env("prod")
                .on_host("/srv/shop", host)
        };
        let e = plan_of(&project(true)).unwrap_err().to_string();
        assert!(e.contains("resolves to /etc"), "{e}");
        let plan = plan_of(&project(false)).expect("a directory inside the project");
        let closed = crate::yaml::to_string(plan.closed.as_ref().expect("tenant mode closes"));
        assert!(closed.contains("TAG: from-dotenv"), "{closed}");
        assert!(closed.contains("/srv/shop/conf:/c"), "{closed}");
    }

    #[test]
    fn the_own_environment_and_proxy_networks_are_no_escape() {
        let w = World::new(
            "services:\n  web: {networks: [env, proxy]}\nnetworks:\n  env: {external: true, name: nf-env-prod}\n  proxy: {external: true, name: nf-proxy}\n",
            PLATFORM,
        )
        .env("prod");
        assert!(plan_of(&w).is_ok(), "{:?}", plan_of(&w).err());
    }

    #[test]
    fn an_engine_labelled_network_of_another_project_is_refused() {
        let mut w = World::new(
            "services:\n  web: {networks: [billing]}\nnetworks:\n  billing: {external: true, name: billing_backend}\n",
            PLATFORM,
        )
        .env("prod");
        w.opts.known_networks = vec![crate::tenant::KnownNetwork {
            name: "billing_backend".into(),
            scope: Some("env:prod".into()),
            project: Some("nf-prod-billing".into()),
            role: None,
        }];
        let e = plan_of(&w).unwrap_err().to_string();
        assert!(e.contains("project `nf-prod-billing` in env:prod"), "{e}");
        assert!(e.contains("no policy key allows it"), "{e}");
    }
}
