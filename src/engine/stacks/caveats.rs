//! What the engine at hand cannot guarantee of a plan (the firewall's lapse on engines
//! before 28 is the host's: `host::netfilter::lapse_caveat`).
//!
//! Rule 13 on the engine at hand: the plan puts every shared network below a service's
//! own ones by endpoint priority, which only engines since 28 take into account (see
//! `plan::name_order`). On an older engine, `rewrite`, `run` and `up` say where a bare
//! name of the project may be answered from another project.

use crate::engine::client::docker::EngineInfo;
use crate::engine::{runtime, Engine};
use crate::plan::name_order::unordered;
use crate::Plan;

/// How long `rewrite` waits for an engine to say its version.
const BRIEF: std::time::Duration = std::time::Duration::from_secs(3);

/// The warning for `plan` on an engine that says `info`, if any.
pub fn caveat(info: &EngineInfo, plan: &Plan) -> Option<String> {
    if info.orders_names_by_priority() {
        return None;
    }
    let at_risk = unordered(&plan.networks, &plan.services);
    let (service, shared, own) = at_risk.first()?;
    let more = match at_risk.len() {
        1 => String::new(),
        n => format!(" ({} more place(s) like it)", n - 1),
    };
    Some(format!(
        "Docker Engine {} orders a container's networks by name, not by priority (engines since 28 do): \
         service `{service}` may ask `{shared}` for a name before `{own}`, so a bare name of this \
         project can be answered by another project's service there{more}; deploy on Docker 28 or \
         later, or check with `netfence verify --probe-image`",
        if info.version.is_empty() { "(version unknown)" } else { &info.version },
    ))
}

/// [`caveat`] for the engine `engine` reaches.
pub async fn caveat_on(engine: &Engine, plan: &Plan) -> Option<String> {
    if unordered(&plan.networks, &plan.services).is_empty() {
        return None;
    }
    caveat(&engine.info().await.ok()?, plan)
}

/// [`caveat`] for the engine the environment points at, when one answers at once; none
/// is asked when the plan leaves nothing to order.
pub fn caveat_if_reachable(plan: &Plan) -> Option<String> {
    if unordered(&plan.networks, &plan.services).is_empty() {
        return None;
    }
    let rt = runtime().ok()?;
    rt.block_on(async {
        let ask = async {
            let engine = Engine::connect().await.ok()?;
            caveat_on(&engine, plan).await
        };
        tokio::time::timeout(BRIEF, ask).await.ok().flatten()
    })
}
