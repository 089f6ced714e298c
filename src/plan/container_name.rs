//! Rule 2 (SPEC §3): `container_name`. A fixed container name allows one copy of the
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
