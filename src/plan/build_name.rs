//! Builds' names in tenant mode. The engine keeps one image store for every project, and
//! Compose names a build with no `image:` `<project>-<service>`: with a `-` or `_` in the
//! service's name that is also what another project calls one of its builds (project
//! `shop`'s `db-web` is project `shop-db`'s `web`), and the two replace each other. The
//! closed output names such a build `<project>/<service>`, a name no other project's
//! can be (a project's name holds no `/`).

use crate::yaml::Mapping;

use super::ctx::Ctx;

/// The name netfence gives the service's build, if it gives one.
pub(super) fn image(
    ctx: &mut Ctx<'_>,
    project_name: &str,
    service: &str,
    svc: &Mapping,
) -> Option<String> {
    if !ctx.tenant_mode() || svc.contains_key("image") || !svc.contains_key("build") {
        return None;
    }
    let lower = service.to_ascii_lowercase();
    if !lower.contains(['-', '_']) {
        return None;
    }
    let name = format!("{project_name}/{lower}");
    ctx.change(
        format!("service {service}"),
        format!("build named `{name}`"),
        format!("Compose would name it `{project_name}-{lower}`, which another project's build can be named too (the engine's image store is every project's)"),
    );
    Some(name)
}

#[cfg(test)]
mod tests {
    use crate::plan::ctx::testing::World;
    use crate::plan::plan;

    #[test]
    fn an_ambiguous_build_is_named_in_tenant_mode_only() {
        let compose = "services:\n  db-web: {build: .}\n  api: {build: .}\n  named-one: {build: ., image: nf-prod-shop/named-one}\n";
        let image = |w: &World, svc: &str| {
            let p = w.run(|ctx| plan(ctx.inputs, ctx.opts)).unwrap();
            p.service(svc).and_then(|s| s.image.clone())
        };
        let tenant = World::new(compose, "").env("prod");
        assert_eq!(
            image(&tenant, "db-web").as_deref(),
            Some("nf-prod-shop/db-web")
        );
        assert_eq!(
            image(&tenant, "api"),
            None,
            "`api` cannot be another's name"
        );
        assert_eq!(
            image(&tenant, "named-one"),
            None,
            "an image named is judged"
        );
        let run = World::new(compose, "");
        assert_eq!(
            image(&run, "db-web"),
            None,
            "a run's file is the user's own"
        );
    }
}
