//! Rule 2: `container_name`. A fixed container name allows one copy of the
//! stack per host, so it is removed; by default the old name becomes a network alias on
//! every network the service joins, so connection strings inside the stack still work.

use crate::policy::ContainerNameMode;

use super::assignment::Draft;
use super::ctx::{push_unique, Ctx};
use super::Attachment;

/// Applies the policy's mode to one service; returns the name removed, if any.
pub(super) fn apply(
    ctx: &mut Ctx<'_>,
    d: &Draft<'_>,
    attachments: &mut [Attachment],
) -> Option<String> {
    let cn = d.container_name.as_ref()?;
    let subject = format!("service {}", d.name);
    match ctx.policy().container_name_mode() {
        ContainerNameMode::Keep => return None,
        ContainerNameMode::Strip => ctx.change(
            subject,
            format!("container_name `{cn}` removed"),
            "a fixed container name allows one copy per host (policy: strip)",
        ),
        ContainerNameMode::Alias if d.network_mode.is_some() => ctx.change(
            subject,
            format!("container_name `{cn}` removed"),
            "a fixed container name allows one copy per host; the service has network_mode, so it has no network to alias on",
        ),
        ContainerNameMode::Alias => {
            for a in attachments.iter_mut() {
                push_unique(&mut a.aliases, cn);
            }
            ctx.change(
                subject,
                format!("container_name `{cn}` removed, kept as a network alias"),
                "a fixed container name allows one copy per host; the alias keeps the old name resolving",
            );
        }
    }
    Some(cn.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ctx::testing::World;
    use crate::plan::{assignment, written};

    const COMPOSE: &str = "services:\n  db:\n    container_name: netra-dev-postgres\n    networks:\n      back: {aliases: [postgres]}\n      front:\n  vpn: {container_name: vpn1, network_mode: host}\n  web: {}\nnetworks: {back: {}, front: {}}";

    /// One service after the rule: the name removed, and the aliases on each network.
    type Applied = (Option<String>, Vec<Vec<String>>);

    /// Every service after the rule, and the changes.
    fn applied(policy: &str) -> (Vec<Applied>, Vec<String>) {
        let w = World::new(COMPOSE, policy);
        w.run(|ctx| {
            let drafts = assignment::assign(ctx, &written::read(ctx).unwrap()).unwrap();
            let out = drafts
                .iter()
                .map(|d| {
                    let mut a = d.attachments.clone();
                    let removed = apply(ctx, d, &mut a);
                    (removed, a.into_iter().map(|a| a.aliases).collect())
                })
                .collect();
            (out, ctx.changes.iter().map(|c| c.change.clone()).collect())
        })
    }

    #[test]
    fn the_old_name_becomes_an_alias_on_every_network() {
        let (out, changes) = applied("");
        assert_eq!(out[0].0.as_deref(), Some("netra-dev-postgres"));
        assert_eq!(
            out[0].1,
            [
                vec!["postgres", "netra-dev-postgres"],
                vec!["netra-dev-postgres"]
            ]
        );
        assert_eq!(
            changes[0],
            "container_name `netra-dev-postgres` removed, kept as a network alias"
        );
    }

    #[test]
    fn a_network_mode_service_loses_the_name_without_an_alias() {
        let (out, changes) = applied("");
        assert_eq!(out[1].0.as_deref(), Some("vpn1"));
        assert!(out[1].1.is_empty());
        assert_eq!(changes[1], "container_name `vpn1` removed");
    }

    #[test]
    fn strip_removes_without_an_alias() {
        let (out, changes) = applied("container_name: strip");
        assert_eq!(out[0].0.as_deref(), Some("netra-dev-postgres"));
        assert_eq!(out[0].1, [vec!["postgres"], vec![]]);
        assert_eq!(changes.len(), 2);
    }

    #[test]
    fn keep_leaves_it_and_says_nothing() {
        let (out, changes) = applied("container_name: keep");
        assert!(out.iter().all(|(removed, _)| removed.is_none()));
        assert!(changes.is_empty(), "{changes:?}");
    }

    #[test]
    fn a_service_without_one_is_untouched() {
        let (out, _) = applied("");
        assert_eq!(out[2], (None, vec![vec![]]));
    }
}
