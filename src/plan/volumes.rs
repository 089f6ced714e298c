//! Rule 3, for volumes: every named volume the file declares carries the
//! ownership labels, so a scope's volumes are found from the engine alone; in a run a
//! fixed volume `name:` is dropped, or parallel runs would share the data.

use crate::compose;
use crate::labels;
use crate::yaml::scalar_string;

use super::ctx::Ctx;
use super::project::Identity;
use super::VolumePlan;

pub(super) fn plan(ctx: &mut Ctx<'_>, id: &Identity) -> Vec<VolumePlan> {
    let Some(vols) = compose::section(ctx.inputs.doc, "volumes") else {
        return Vec::new();
    };
    let mut volumes = Vec::new();
    for (k, v) in vols {
        let Some(key) = scalar_string(k) else {
            continue;
        };
        let decl = crate::yaml::untag(v).as_mapping();
        if decl.is_some_and(compose::is_external) {
            continue;
        }
        let mut labels = id.owned_labels.clone();
        let mut dropped_name = None;
        let name = decl.and_then(|d| d.get("name")).and_then(scalar_string);
        if let Some(n) = name.filter(|_| !id.scope.is_env()) {
            labels.insert(labels::ORIGINAL_NAME.to_owned(), n.clone());
            ctx.change(
                format!("volume {key}"),
                format!("name `{n}` dropped"),
                "parallel runs would share one volume; Compose scopes it by project instead",
            );
            dropped_name = Some(n);
        }
        volumes.push(VolumePlan {
            key,
            labels,
            dropped_name,
        });
    }
    volumes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;

    const COMPOSE: &str = "services: {db: {}}\nvolumes:\n  data: {name: pgdata}\n  cache:\n  shared: {external: true}";

    fn planned(w: &World) -> (Vec<VolumePlan>, usize) {
        w.run(|ctx| {
            let id = crate::plan::project::identify(ctx).unwrap();
            (plan(ctx, &id), ctx.changes.len())
        })
    }

    #[test]
    fn a_run_drops_a_fixed_volume_name_and_labels_every_declared_volume() {
        let (v, changes) = planned(&World::new(COMPOSE, ""));
        let keys: Vec<&str> = v.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(keys, ["data", "cache"], "external volumes are not ours");
        assert_eq!(v[0].dropped_name.as_deref(), Some("pgdata"));
        assert_eq!(v[0].labels[labels::ORIGINAL_NAME], "pgdata");
        assert_eq!(v[1].labels[labels::SCOPE], "run:r1");
        assert_eq!(changes, 1);
    }

    #[test]
    fn an_environment_keeps_the_name() {
        let (v, changes) = planned(&World::new(COMPOSE, "").env("prod"));
        assert_eq!(v[0].dropped_name, None);
        assert!(!v[0].labels.contains_key(labels::ORIGINAL_NAME));
        assert_eq!(changes, 0);
    }
}
