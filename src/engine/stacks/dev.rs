//! A checkout's stack: `netfence up` brings it up under the scope
//! `dev:<slug>` of its [`Checkout`] and leaves it up; `netfence down` in the checkout
//! removes it; `netfence port` says where one of its ports is.
//!
//! It is brought up as a run is (`stacks::bring_up`, networks created by API, their
//! isolation settled before a container starts); what differs is the [`BringUp`] this
//! module builds:
//! - **Nothing is torn down when netfence exits**, and no process owns the stack (no
//!   `io.netfence.owner`): `gc` never takes it unless asked (`gc --dev`, for stacks
//!   whose checkout is gone). Each object carries `io.netfence.checkout`, the
//!   checkout's path, so an inventory can say where a stack comes from.
//! - **An earlier `up`'s networks are kept** as they are, so `up` on a stack that is up
//!   is Compose's own `up`: what did not change is left running, as it was.
//! - **Host ports are stable** (see `plan::dev_ports`): `stacks::stable_ports` reads
//!   what the engine and the host have taken and what the stack holds, the planner
//!   chooses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use crate::checkout::Checkout;
use crate::engine::host::sweep::Kind;
use crate::engine::stacks::bring_up::{bring_up, BringUp, Footprint, Ports};
use crate::engine::stacks::down::Removed;
use crate::engine::stacks::run_info::{Published, RunInfo};
use crate::engine::stacks::session::{Session, Setup};
pub use crate::engine::stacks::stable_ports::bound_on_host;
use crate::engine::stacks::wait::WaitFor;
use crate::engine::{host::claim, scope_filter, Engine};
use crate::error::Error;
use crate::labels;
use crate::plan::HostPorts;
use crate::{Project, Scope};

/// How `netfence up` brings a checkout's stack up.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub checkout: Checkout,
    /// `-p`: the project name before scoping.
    pub project_name: Option<String>,
    /// The environment the policy's templates see (and `COMPOSE_PROJECT_NAME`).
    pub environ: BTreeMap<String, String>,
    /// How long `up` plus the wait for running/healthy services may take.
    pub timeout: Duration,
    /// Show a progress bar while waiting.
    pub progress: bool,
    /// When the stack counts as up (`--wait`).
    pub wait: WaitFor,
    /// `--profile` values; none: `COMPOSE_PROFILES`, as Compose reads it.
    pub profiles: Vec<String>,
}

/// A checkout's stack that is up and ready.
#[derive(Debug, Clone)]
pub struct DevUp {
    pub scope: Scope,
    pub checkout: PathBuf,
    /// Networks, each service's containers with their addresses and published ports.
    pub info: RunInfo,
    /// The fenced file Compose was given, kept (with `run-info.json` beside it) in
    /// netfence's state directory until `down`.
    pub compose_file: PathBuf,
    /// Something of the stack was on the engine before this `up`.
    pub was_up: bool,
}

/// Fences the checkout's stack and brings it up (detached), ready: every container
/// running, healthy where it has a healthcheck. Bad input is refused before anything is
/// touched. When it fails, a stack that was not up before is removed again (volumes a
/// `down` kept stay); one that was is left as it is (`netfence down` removes it).
pub fn up(project: Project, opts: UpOptions) -> Result<DevUp, Error> {
    let scope = opts.checkout.scope();
    let setup = Setup {
        project_name: opts.project_name.clone(),
        environ: opts.environ.clone(),
        timeout: opts.timeout,
        progress: opts.progress,
        overlay: false,
        wait: opts.wait,
        profiles: opts.profiles.clone(),
    };
    let how = bring_up_of(&opts.checkout);
    project.plan(&how.options(&setup, Vec::new(), HostPorts::default()))?;
    crate::engine::runtime()?.block_on(async {
        let session = open(project, setup, &opts.checkout).await?;
        let before = session.engine.owned(&scope_filter(&scope)).await?;
        let was_up = before.iter().any(|o| o.kind == Kind::Container);
        let mut fp = Footprint::default();
        let r = bring_up(&session, &how, &mut fp).await.map_err(|n| n.error);
        match r {
            Ok(up) => Ok(DevUp {
                scope,
                checkout: opts.checkout.root.clone(),
                info: up.info,
                // A checkout's stack is never an overlay: the fenced file is the one file.
                compose_file: fp.compose_files.pop().unwrap_or_default(),
                was_up,
            }),
            Err(e) if was_up => Err(e
                .then(format!(
                    "the stack is left as it is; `netfence down` in {} removes it",
                    opts.checkout.root.display()
                ))
                .into()),
            Err(e) => {
                let kept = |o: &crate::engine::host::sweep::Object| {
                    o.kind == Kind::Volume && before.iter().any(|b| b.id == o.id)
                };
                let left = session
                    .engine
                    .sweep_scope(&scope_filter(&scope), kept)
                    .await;
                if let Some(d) = fp.dir {
                    d.remove();
                }
                let e = match left {
                    Ok(l) if l.is_empty() => e,
                    Ok(l) => e.then(format!(
                        "clean-up incomplete: {}; `netfence down` in {} retries",
                        crate::engine::host::sweep::describe(&l),
                        opts.checkout.root.display()
                    )),
                    Err(c) => e.then(format!("clean-up failed: {c}")),
                };
                Err(e.into())
            }
        }
    })
}

/// Removes the checkout's stack by its labels: containers, networks and, with
/// `volumes`, volumes (kept otherwise, as `docker compose down` keeps them), and the
/// files `up` kept.
pub fn down(checkout: &Checkout, volumes: bool) -> Result<Removed, Error> {
    let scope = checkout.scope();
    crate::engine::runtime()?.block_on(async {
        let engine = Engine::connect().await?;
        let state = crate::engine::host::state_dir::StateDir::open()?;
        let _claim = claim::claim(&engine, &state, &[lock_id(checkout)])
            .await
            .map_err(|e| busy(e, checkout))?;
        Ok(crate::engine::stacks::down::down(&engine, &scope, volumes).await?)
    })
}

/// Where a published port of the checkout's stack is reached from this machine:
/// `127.0.0.1:21874`. `index` picks among a scaled service's containers (1 is the
/// first, by name).
pub fn port(
    checkout: &Checkout,
    service: &str,
    container_port: u16,
    protocol: &str,
    index: usize,
) -> Result<String, Error> {
    let scope = checkout.scope();
    crate::engine::runtime()?.block_on(async {
        let engine = Engine::connect().await?;
        let mut list = engine
            .containers_labelled(&scope_filter(&scope), false)
            .await?;
        if list.is_empty() {
            return Err(Error::Usage(format!(
                "nothing of {scope} is running: `netfence up` in {} starts it",
                checkout.root.display()
            )));
        }
        let services: BTreeSet<String> =
            list.iter().filter_map(|c| c.service().map(str::to_owned)).collect();
        list.retain(|c| c.service() == Some(service));
        list.sort_by(|a, b| a.name.cmp(&b.name));
        let Some(c) = list.get(index.saturating_sub(1)) else {
            return Err(Error::Usage(if list.is_empty() {
                format!(
                    "{scope} has no running container of service `{service}`; its services: {}",
                    services.into_iter().collect::<Vec<_>>().join(", ")
                )
            } else {
                format!(
                    "service `{service}` has {} running container(s), no index {index}",
                    list.len()
                )
            }));
        };
        let c = engine
            .inspect_container(&c.id)
            .await
            .map_err(|e| e.doing(format!("inspecting {}", c.name)))?;
        let mut bound: Vec<Published> = c.published.into_iter().map(Published::from).collect();
        // IPv4 first, as `run`'s variables.
        bound.sort_by_key(|p| p.host_ip.contains(':'));
        match bound
            .iter()
            .find(|p| p.container_port == container_port && p.protocol == protocol)
        {
            Some(p) => Ok(p.address.clone()),
            None => {
                let has: Vec<String> = bound
                    .iter()
                    .map(|p| format!("{}/{}", p.container_port, p.protocol))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                Err(Error::Usage(format!(
                    "service `{service}` publishes no port {container_port}/{protocol}; it publishes: {}",
                    if has.is_empty() { "none".to_owned() } else { has.join(", ") }
                )))
            }
        }
    })
}

/// How a checkout's stack is brought up: on stable host ports, on the networks of an
/// earlier `up` where there are some; every service, own volume and managed network
/// carries `io.netfence.checkout`, and nothing names an owning process (the stack
/// outlives the `up` that made it).
fn bring_up_of(checkout: &Checkout) -> BringUp {
    let root = checkout.root.to_string_lossy().into_owned();
    BringUp {
        scope: checkout.scope(),
        index: None,
        keep_earlier: true,
        ports: Ports::Stable,
        labels: vec![(labels::CHECKOUT.to_owned(), root)],
        network_labels: Vec::new(),
    }
}

/// The lock that keeps two `up`/`down` of one checkout from running at once.
fn lock_id(checkout: &Checkout) -> String {
    format!("dev.{}", checkout.slug)
}

fn busy(e: Error, checkout: &Checkout) -> Error {
    match e {
        Error::RunIdHeld { owner, .. } => Error::Usage(format!(
            "another `netfence up` or `down` is at work on {} ({owner}): wait until it ends",
            checkout.root.display()
        )),
        other => other,
    }
}

async fn open(project: Project, setup: Setup, checkout: &Checkout) -> Result<Session, Error> {
    Session::open(project, setup, &[lock_id(checkout)])
        .await
        .map_err(|e| busy(e, checkout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Options;
    use crate::yaml::Value;

    fn yaml(text: &str) -> Value {
        crate::yaml::parse(&crate::Source::File("t.yml".into()), text).unwrap()
    }

    #[test]
    fn the_checkout_label_goes_on_services_own_volumes_and_managed_networks() {
        let opts = Options {
            scope: Some(Scope::Dev("shop-1111aaaa".into())),
            bring_up_labels: vec![
                (labels::CHECKOUT.to_owned(), "/src/shop".to_owned()),
                // A bring-up label never replaces an ownership label.
                (labels::SCOPE.to_owned(), "dev:forged".to_owned()),
            ],
            ..Options::default()
        };
        let (_, out) = crate::fence_str(
            "services:\n  a: {image: x, labels: [k=v]}\n  b: {image: y}\nvolumes:\n  data: {}\n  ext: {external: true}\nnetworks:\n  default: {}\n  proxy: {external: true}\n",
            None,
            &opts,
        )
        .unwrap();
        let doc = yaml(&out);
        let get = |v: &Value, k: &str| labels::get(v.get("labels"), k);
        for v in [
            &doc["services"]["a"],
            &doc["services"]["b"],
            &doc["volumes"]["data"],
            &doc["networks"]["default"],
        ] {
            assert_eq!(
                get(v, labels::CHECKOUT).as_deref(),
                Some("/src/shop"),
                "{out}"
            );
            assert_eq!(get(v, labels::SCOPE).as_deref(), Some("dev:shop-1111aaaa"));
        }
        assert_eq!(get(&doc["services"]["a"], "k").as_deref(), Some("v"));
        assert_eq!(get(&doc["volumes"]["ext"], labels::CHECKOUT), None);
        assert_eq!(get(&doc["networks"]["proxy"], labels::CHECKOUT), None);
    }
}
