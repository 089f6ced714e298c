//! A checkout's stack: `netfence up` brings it up under the scope
//! `dev:<slug>` of its [`Checkout`] and leaves it up; `netfence down` in the checkout
//! removes it; `netfence port` says where one of its ports is.
//!
//! What differs from a run:
//! - **Nothing is torn down when netfence exits**, and no process owns the stack (no
//!   `io.netfence.owner`): `gc` never takes it unless asked (`gc --dev`, for stacks
//!   whose checkout is gone). Each object carries `io.netfence.checkout`, the
//!   checkout's path, so an inventory can say where a stack comes from.
//! - **Host ports are stable** (see `plan::dev_ports`): this module reads what the engine
//!   and the host have taken and what the stack holds, the planner chooses.
//! - **Compose creates the networks** from the fenced file (scoped names, ownership
//!   labels, the policy's subnets when it has a pool), so `up` on a stack that is up is
//!   Compose's own `up`: what did not change is left running, as it was.

use crate::engine::EngineResult;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::avoid::Avoid;
use crate::checkout::Checkout;
use crate::engine::host::state_dir::RunDir;
use crate::engine::host::sweep::Kind;
use crate::engine::stacks::bring_up::{
    compose_up_once, ready, up_failed, write_fenced, write_info,
};
use crate::engine::stacks::down::Removed;
use crate::engine::stacks::run_info::{Published, RunInfo};
use crate::engine::stacks::session::{Session, Setup};
use crate::engine::stacks::wait::WaitFor;
use crate::engine::{host::claim, scope_filter, Engine, EngineError};
use crate::error::Error;
use crate::labels;
use crate::plan::{port_key, HostPorts, Options, Plan};
use crate::yaml::Value;
use crate::{Project, Scope};

/// How often `up` is planned again because a port it chose was taken meanwhile.
const MAX_PLANS: usize = 8;

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
        reuse: false,
    };
    project.plan(&options(
        &setup,
        &opts.checkout,
        Vec::new(),
        HostPorts::default(),
    ))?;
    crate::engine::runtime()?.block_on(async {
        let session = open(project, setup, &opts.checkout).await?;
        let before = session.engine.owned(&scope_filter(&scope)).await?;
        let was_up = before.iter().any(|o| o.kind == Kind::Container);
        let mut dir = None;
        let r = bring_up(&session, &opts.checkout, &mut dir).await;
        match r {
            Ok((info, compose_file)) => Ok(DevUp {
                scope,
                checkout: opts.checkout.root.clone(),
                info,
                compose_file,
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
                if let Some(d) = dir {
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

/// The plan options of a checkout's stack: Compose creates its networks; every service,
/// own volume and managed network carries `io.netfence.checkout`.
fn options(
    setup: &Setup,
    checkout: &Checkout,
    occupied: Vec<Avoid>,
    host_ports: HostPorts,
) -> Options {
    let root = checkout.root.to_string_lossy().into_owned();
    Options {
        scope: Some(checkout.scope()),
        bring_up_labels: vec![(labels::CHECKOUT.to_owned(), root)],
        project: setup.project_name.clone(),
        environ: setup.environ.clone(),
        occupied,
        host_ports,
        profiles: setup.profiles.clone(),
        ..Options::default()
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

/// Plan → fenced file → `compose up -d` (planned again when a port was taken
/// meanwhile) → ready → run info: after its own planning, the steps `run` takes
/// (`bring_up`). `dir` is the directory the files went to.
async fn bring_up(
    session: &Session,
    checkout: &Checkout,
    dir: &mut Option<RunDir>,
) -> EngineResult<(RunInfo, PathBuf)> {
    let engine = &session.engine;
    let scope = checkout.scope();
    let deadline = Instant::now() + session.setup.timeout;
    let occupied: Vec<Avoid> = engine.avoid().await?;
    let (mut host, own_ports) = host_ports(engine, &scope).await?;
    let mut attempt = 0;
    let (plan, files) = loop {
        attempt += 1;
        let plan = plan_free(session, checkout, occupied.clone(), &mut host, &own_ports)?;
        if attempt == 1 {
            if let Some(w) = crate::engine::stacks::caveats::caveat_on(engine, &plan).await {
                tracing::warn!("{scope}: {w}");
            }
        }
        session.state.forget(&plan.project_name);
        let d = dir.insert(session.state.new_run_dir(&plan.project_name)?);
        let files = write_fenced(session, &plan, d)?;
        let (project, profiles) = (&plan.project_name, &plan.profiles.active);
        match compose_up_once(session, &files, project, profiles, deadline).await? {
            None => break (plan, files),
            Some(out) => match taken_port(&out.text) {
                Some(p) if attempt < MAX_PLANS && !own_ports.contains(&p) => {
                    tracing::info!("{scope}: host port {p} was taken meanwhile; planning again");
                    host.taken.insert(p);
                    host.held.retain(|_, h| *h != p);
                }
                _ => return Err(up_failed(session, project, &out).await.error),
            },
        }
    };
    let info = ready(session, &plan, None, deadline)
        .await
        .map_err(|q| q.error)?;
    if let Some(d) = dir.as_ref() {
        write_info(&info, d)?;
    }
    // A checkout's stack is never an overlay: the fenced file is the one file.
    let file = files.into_iter().last().unwrap_or_default();
    Ok((info, file))
}

/// What the engine says about host ports: those of other containers are taken, those
/// of the scope's own are held (by `service/port/protocol`); and the own ones as a set.
async fn host_ports(engine: &Engine, scope: &Scope) -> EngineResult<(HostPorts, BTreeSet<u16>)> {
    let uses = engine.port_uses().await?;
    let scope = scope.to_string();
    let mut host = HostPorts::default();
    let mut own = BTreeSet::new();
    for u in uses {
        let ours = u.labels.get(labels::SCOPE) == Some(&scope);
        let service = u
            .labels
            .get(labels::compose::SERVICE)
            .cloned()
            .unwrap_or_default();
        for b in u.bindings {
            if ours {
                own.insert(b.host_port);
                host.held
                    .entry(port_key(&service, b.container_port, &b.protocol))
                    .or_insert(b.host_port);
            } else {
                host.taken.insert(b.host_port);
            }
        }
    }
    Ok((host, own))
}

/// Plans until no chosen host port is bound on this host by something other than the
/// stack itself (a program the engine does not know of).
fn plan_free(
    session: &Session,
    checkout: &Checkout,
    occupied: Vec<Avoid>,
    host: &mut HostPorts,
    own: &BTreeSet<u16>,
) -> EngineResult<Plan> {
    let scope = checkout.scope();
    for _ in 0..MAX_PLANS {
        let plan = session
            .project
            .plan(&options(
                &session.setup,
                checkout,
                occupied.clone(),
                host.clone(),
            ))
            .map_err(|e| EngineError::Plan(Box::new(e)))?;
        let busy: Vec<u16> = chosen_ports(&plan)
            .into_iter()
            .filter(|(p, _)| !own.contains(p))
            .filter(|(p, proto)| bound_on_host(*p, proto))
            .map(|(p, _)| p)
            .collect();
        if busy.is_empty() {
            return Ok(plan);
        }
        tracing::info!("{scope}: host ports {busy:?} are bound on this host; planning again");
        host.taken.extend(&busy);
        host.held.retain(|_, h| !busy.contains(h));
    }
    Err(EngineError::refused(format!(
        "choosing host ports: {MAX_PLANS} plans in a row chose a port bound on this host"
    )))
}

/// The host ports a plan publishes on, with their protocols.
fn chosen_ports(plan: &Plan) -> Vec<(u16, String)> {
    let mut out = Vec::new();
    for change in plan.services.iter().flat_map(|s| &s.ports) {
        let (published, target, protocol) = match &change.after {
            Value::Scalar(_) => {
                let text = crate::yaml::scalar_string(&change.after).unwrap_or_default();
                let sp = crate::port_spec::ShortPort::parse(&text);
                (sp.published, sp.target, None)
            }
            Value::Mapping(m) => (
                m.get("published").and_then(crate::yaml::scalar_string),
                String::new(),
                m.get("protocol").and_then(crate::yaml::scalar_string),
            ),
            _ => continue,
        };
        let Some(published) = published else { continue };
        let protocol = protocol
            .or_else(|| target.split_once('/').map(|(_, p)| p.to_owned()))
            .unwrap_or_else(|| "tcp".into());
        let (a, b) = published
            .split_once('-')
            .unwrap_or((&published, &published));
        if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
            out.extend((a..=b).map(|p| (p, protocol.clone())));
        }
    }
    out
}

/// Is `port` bound on this host by someone (a listener, or a UDP socket)? Only "in
/// use" counts: a host without IPv6 cannot say no for it.
pub fn bound_on_host(port: u16, protocol: &str) -> bool {
    let in_use =
        |r: std::io::Result<()>| r.is_err_and(|e| e.kind() == std::io::ErrorKind::AddrInUse);
    match protocol {
        "udp" => {
            in_use(UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).map(drop))
                || in_use(UdpSocket::bind((Ipv6Addr::UNSPECIFIED, port)).map(drop))
        }
        "tcp" => {
            in_use(TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).map(drop))
                || in_use(TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)).map(drop))
        }
        _ => false,
    }
}

/// The host port named in Compose's error when a bind lost a race: `Bind for
/// 0.0.0.0:21874 failed: port is already allocated`, `listen tcp4 0.0.0.0:21874: bind:
/// address already in use`.
fn taken_port(text: &str) -> Option<u16> {
    for marker in [
        " failed: port is already allocated",
        ": bind: address already in use",
    ] {
        if let Some(i) = text.find(marker) {
            let head = &text[..i];
            let digits = head.rsplit(':').next()?;
            return digits.trim().parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        crate::yaml::parse(&crate::Source::File("t.yml".into()), text).unwrap()
    }

    #[test]
    fn a_port_someone_listens_on_is_bound() {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(bound_on_host(port, "tcp"));
        drop(l);
        assert!(!bound_on_host(port, "tcp"));
        let u = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        assert!(bound_on_host(u.local_addr().unwrap().port(), "udp"));
    }

    #[test]
    fn the_port_of_a_lost_bind_race_is_read_from_composes_error() {
        assert_eq!(
            taken_port("Error response from daemon: driver failed programming external connectivity on endpoint x (abc): Bind for 0.0.0.0:21874 failed: port is already allocated"),
            Some(21874)
        );
        assert_eq!(
            taken_port("Error starting userland proxy: listen tcp4 0.0.0.0:20017: bind: address already in use"),
            Some(20017)
        );
        assert_eq!(taken_port("pull access denied"), None);
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

    #[test]
    fn chosen_ports_reads_short_long_and_ranges() {
        let mut plan_ports = Vec::new();
        for (before, after) in [
            ("8080:80", Value::from("21000:80")),
            ("53:53/udp", Value::from("127.0.0.1:21001:53/udp")),
            ("7000-7001:7000-7001", Value::from("21002-21003:7000-7001")),
            ("x", yaml("{target: 80, published: '21004', protocol: udp}")),
            ("5432", Value::from("5432")),
        ] {
            plan_ports.push(crate::plan::PortChange {
                before: Value::from(before),
                after,
            });
        }
        let (plan, _) =
            crate::fence_str("services: {a: {image: x}}", None, &Options::default()).unwrap();
        let mut plan = plan;
        plan.services[0].ports = plan_ports;
        let got = chosen_ports(&plan);
        let want: Vec<(u16, String)> = [
            (21000, "tcp"),
            (21001, "udp"),
            (21002, "tcp"),
            (21003, "tcp"),
            (21004, "udp"),
        ]
        .into_iter()
        .map(|(p, s)| (p, s.to_owned()))
        .collect();
        assert_eq!(got, want);
    }
}
