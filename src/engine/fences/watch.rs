//! `netfence reconcile --watch`: follows the engine's events and fences each container
//! of the selected projects as it comes, instead of a sweep after the deploy (which
//! leaves a new container for a second or more on the platform's flat network and off
//! its environment's).
//!
//! - On `create` the container is connected to the environment, proxy and shared
//!   networks the plan gives it, before it starts: the engine takes a connect for a
//!   created container and attaches it when it starts. Only those networks: the
//!   project's own ones Compose connects itself right after creating, and a second
//!   connect to them would make its `up` fail. A container that already carries
//!   netfence's labels was deployed from the fenced file, whose networks Compose
//!   attaches itself: it is left to its `start`.
//! - On `start` the container is reconciled in full (connects, alias fixes, disconnects,
//!   `--strict`'s flat networks), within milliseconds, and a `fenced` record says how
//!   long it ran before its last step (negative: fenced before it started).
//! - Subscribed first, then caught up: every running container of the selected projects
//!   is reconciled as `reconcile` does, and the subscription (from a time just before)
//!   replays what happened meanwhile. When the stream ends — the engine restarted, the
//!   connection dropped — the watcher reconnects with a backoff and catches up again.
//!
//! Each step applied, and each of these turns, is one [`Record`]: a JSON line on stdout.
//! A step that fails is a record too; the watcher goes on.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use serde::Serialize;

use crate::engine::client::docker::{found, Container, Event, LiveNetwork};
use crate::engine::fences::reconcile::{self, Action, Observed, Step, Warning};
use crate::engine::{Engine, EngineResult};
use crate::labels::{self, compose};
use crate::plan::Plan;

/// Which containers are fenced: those of the Compose projects named with `-p`, and of
/// every project with a container carrying the policy's `watch.label`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub projects: BTreeSet<String>,
    /// `(KEY, Some(VALUE))` for `KEY=VALUE`, `(KEY, None)` for a bare key.
    pub label: Option<(String, Option<String>)>,
}

impl Selection {
    /// `KEY` or `KEY=VALUE`, as the policy writes it.
    pub fn parse_label(s: &str) -> (String, Option<String>) {
        match s.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (s.to_owned(), None),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.projects.is_empty() && self.label.is_none()
    }

    /// The Compose project of a container with these labels, when it is selected.
    pub fn project_of<'a>(&self, labels: &'a HashMap<String, String>) -> Option<&'a str> {
        let project = labels.get(compose::PROJECT)?;
        if labels.get(compose::ONEOFF).is_some_and(|v| v == "True") {
            // `docker compose run`: a one-off, not a service of the deployment.
            return None;
        }
        if self.projects.contains(project) {
            return Some(project);
        }
        let (key, value) = self.label.as_ref()?;
        let have = labels.get(key)?;
        value.as_ref().is_none_or(|v| v == have).then_some(project)
    }

    /// The label filter of the containers to catch up on: one list per `-p` project, and
    /// one for the label.
    fn filters(&self) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = self
            .projects
            .iter()
            .map(|p| vec![format!("{}={p}", compose::PROJECT)])
            .collect();
        if let Some((k, v)) = &self.label {
            out.push(vec![match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            }]);
        }
        out
    }
}

/// A Compose project as the engine shows it: its name and, from Compose's labels, its
/// files — what a planner needs when no `-f` was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectRef {
    pub name: String,
    /// `com.docker.compose.project.config_files`, split.
    pub config_files: Vec<PathBuf>,
    /// `com.docker.compose.project.working_dir`.
    pub working_dir: Option<PathBuf>,
}

impl ProjectRef {
    fn from_labels(name: &str, labels: &HashMap<String, String>) -> ProjectRef {
        ProjectRef {
            name: name.to_owned(),
            config_files: labels
                .get(compose::CONFIG_FILES)
                .map(|s| {
                    s.split(',')
                        .filter(|p| !p.is_empty())
                        .map(PathBuf::from)
                        .collect()
                })
                .unwrap_or_default(),
            working_dir: labels.get(compose::WORKING_DIR).map(PathBuf::from),
        }
    }
}

/// How the watcher fences.
#[derive(Debug, Clone)]
pub struct Options {
    pub selection: Selection,
    /// `--strict`: also off the policy's flat networks.
    pub strict: bool,
    pub flat: Vec<String>,
    /// `limits.max_networks`, for a missing network reconcile creates.
    pub limit: u32,
    /// The first wait before reconnecting, doubled up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl Options {
    pub fn new(selection: Selection) -> Options {
        Options {
            selection,
            strict: false,
            flat: Vec::new(),
            limit: crate::policy::DEFAULT_MAX_NETWORKS,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// What set a step off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    /// The container was created (connected before it starts).
    Create,
    /// The container started.
    Start,
    /// Found running when the watcher (re)connected.
    CatchUp,
}

/// One line of the watcher's output (`"event"` says which).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Record {
    /// Subscribed and caught up: from here on containers are fenced as they come.
    Watching {
        at: String,
        projects: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Containers reconciled while catching up.
        caught_up: usize,
    },
    /// One step applied (the fields of `reconcile --format json`'s steps).
    Step {
        at: String,
        trigger: Trigger,
        project: String,
        #[serde(flatten)]
        step: Box<Step>,
        /// From the engine's event to the step done (none when catching up).
        #[serde(skip_serializing_if = "Option::is_none")]
        latency_ms: Option<f64>,
    },
    /// A container that started is fenced as the plan says.
    Fenced {
        at: String,
        project: String,
        container: String,
        /// Steps it took (at create and at start).
        steps: usize,
        /// From its start to its last step: negative when it was fenced before it
        /// started; none when nothing had to be done.
        #[serde(skip_serializing_if = "Option::is_none")]
        window_ms: Option<f64>,
    },
    /// Something failed for one project or container; the watcher goes on.
    Error {
        at: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        project: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        container: Option<String>,
        message: String,
    },
    /// The engine cannot be reached, or its event stream ended: reconnecting.
    Lost {
        at: String,
        reason: String,
        retry_in_ms: u64,
    },
}

/// Now, as records write it (RFC 3339, milliseconds, UTC).
pub fn now_text() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn ms_between(later: SystemTime, earlier: SystemTime) -> f64 {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let v = match later.duration_since(earlier) {
        Ok(d) => ms(d),
        Err(e) => -ms(e.duration()),
    };
    (v * 10.0).round() / 10.0
}

fn event_time(e: &Event) -> Option<SystemTime> {
    let nanos = e.time_nano.or(e.time.map(|s| s * 1_000_000_000))?;
    Some(UNIX_EPOCH + Duration::from_nanos(u64::try_from(nanos).ok()?))
}

/// Where records go; an error (stdout closed) ends the watch.
pub type Sink<'a> = dyn FnMut(&Record) -> std::io::Result<()> + 'a;
/// Plans a project; the message says why it cannot be.
pub type Planner<'a> = dyn FnMut(&ProjectRef) -> crate::Result<Plan> + 'a;

/// Why the watch ended (it never ends on its own otherwise).
#[derive(Debug)]
pub enum Ended {
    /// The sink refused a record (its reader went away).
    Output(std::io::Error),
}

/// Watches until the sink fails; reconnects whenever the engine goes away. Stop it by
/// dropping the future (the command does on SIGINT/SIGTERM): nothing is half done that
/// the next reconcile would not finish.
pub async fn watch(opts: &Options, planner: &mut Planner<'_>, sink: &mut Sink<'_>) -> Ended {
    let mut w = Watcher {
        opts,
        planner,
        sink,
        plans: HashMap::new(),
        fenced: HashMap::new(),
        since: None,
        busy: HashMap::new(),
        networks: Arc::new(Vec::new()),
    };
    let mut backoff = opts.min_backoff;
    loop {
        let reason = match Engine::connect().await {
            Ok(engine) => match w.session(&engine, &mut backoff).await {
                Ok(reason) => reason,
                Err(e) => return Ended::Output(e),
            },
            Err(e) => e.to_string(),
        };
        w.busy.clear();
        let lost = Record::Lost {
            at: now_text(),
            reason,
            retry_in_ms: backoff.as_millis() as u64,
        };
        if let Err(e) = (w.sink)(&lost) {
            return Ended::Output(e);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(opts.max_backoff);
    }
}

/// One event of a selected project, with the plan it is fenced by and the engine's
/// networks as last seen.
struct Job {
    event: Event,
    project: String,
    plan: Arc<Plan>,
    networks: Arc<Vec<LiveNetwork>>,
}

/// What handling one event did.
struct Handled {
    id: String,
    project: String,
    trigger: Trigger,
    started: Option<SystemTime>,
    /// The container's name, once inspected.
    container: Option<String>,
    records: Vec<Record>,
    steps: usize,
    last: Option<SystemTime>,
    /// The engine's networks, when the handler listed them.
    networks: Option<Vec<LiveNetwork>>,
}

struct Watcher<'o, 'p, 's> {
    opts: &'o Options,
    planner: &'p mut Planner<'p>,
    sink: &'s mut Sink<'s>,
    /// Each project's plan (or why there is none), by name; made again on reconnect.
    plans: HashMap<String, (ProjectRef, Result<Arc<Plan>, String>)>,
    /// Containers with steps taken: how many, and when the last was done.
    fenced: HashMap<String, (usize, SystemTime)>,
    /// The engine time of the last event seen: a new subscription starts there.
    since: Option<f64>,
    /// Containers being handled, each with the events that wait their turn: one
    /// container's events are handled in order, different containers' at once.
    busy: HashMap<String, VecDeque<Job>>,
    /// The engine's networks as last listed: a created container is connected without
    /// listing them first.
    networks: Arc<Vec<LiveNetwork>>,
}

type Io<T> = std::io::Result<T>;
type Running<'o> = FuturesUnordered<Pin<Box<dyn Future<Output = Handled> + Send + 'o>>>;

impl<'o> Watcher<'o, '_, '_> {
    fn emit(&mut self, r: Record) -> Io<()> {
        (self.sink)(&r)
    }

    /// Subscribes, catches up, follows the events until the stream ends: why it ended.
    async fn session(&mut self, engine: &Engine, backoff: &mut Duration) -> Io<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        // A second back: the engine's clock and ours are one clock only on one host.
        let since = self.since.map_or(now - 1.0, |s| s.min(now));
        let filters = [
            ("type", "container"),
            ("event", "create"),
            ("event", "start"),
            ("event", "destroy"),
        ];
        let mut events = engine.events_since(&filters, Some(since));
        self.plans.clear();
        let caught_up = match self.catch_up(engine).await? {
            Ok(n) => n,
            Err(e) => return Ok(e.to_string()),
        };
        *backoff = self.opts.min_backoff;
        let sel = &self.opts.selection;
        let watching = Record::Watching {
            at: now_text(),
            projects: sel.projects.iter().cloned().collect(),
            label: sel.label.as_ref().map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            }),
            caught_up,
        };
        self.emit(watching)?;
        let mut running: Running<'o> = FuturesUnordered::new();
        loop {
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(ev)) => {
                        if let Some(t) = ev.time_nano {
                            self.since = Some(t as f64 / 1e9);
                        }
                        self.dispatch(engine, ev, &mut running)?;
                    }
                    Some(Err(e)) => return Ok(format!("the engine's event stream failed: {e}")),
                    None => return Ok("the engine's event stream ended".to_owned()),
                },
                Some(done) = running.next(), if !running.is_empty() => {
                    self.finish(engine, done, &mut running)?;
                }
            }
        }
    }

    /// Reconciles every running container of the selected projects, and creates the
    /// missing environment, proxy and shared networks of the named projects that can be
    /// planned before any container runs (their files given): the first container's
    /// fence then has nothing to create. `Err` (inside): the engine failed while
    /// listing, so the session is over.
    async fn catch_up(&mut self, engine: &Engine) -> Io<EngineResult<usize>> {
        let mut projects: Vec<ProjectRef> = Vec::new();
        for filter in self.opts.selection.filters() {
            let list = match engine.containers_labelled(&filter, false).await {
                Ok(l) => l,
                Err(e) => return Ok(Err(e)),
            };
            for c in list {
                let Some(name) = self.opts.selection.project_of(&c.labels) else {
                    continue;
                };
                if !projects.iter().any(|p| p.name == name) {
                    projects.push(ProjectRef::from_labels(name, &c.labels));
                }
            }
        }
        let mut count = 0;
        for p in &projects {
            let Some(plan) = self.plan(p)? else {
                continue;
            };
            let observed = match reconcile::observe(engine, &plan).await {
                Ok(o) => o,
                Err(e) => return Ok(Err(e)),
            };
            count += observed.containers.len();
            warn(&plan, &observed, self.opts);
            let steps = reconcile::steps(&plan, &observed, self.opts.strict, &self.opts.flat);
            let records = apply(engine, self.opts, &p.name, Trigger::CatchUp, None, &steps).await;
            for r in records.0 {
                self.emit(r)?;
            }
        }
        let idle: Vec<String> = self
            .opts
            .selection
            .projects
            .iter()
            .filter(|n| !projects.iter().any(|p| &p.name == *n))
            .cloned()
            .collect();
        for name in idle {
            let p = ProjectRef {
                name,
                ..Default::default()
            };
            // Without files yet (they come with the first container's labels): quietly
            // left for later.
            let Ok(plan) = (self.planner)(&p) else {
                continue;
            };
            let plan = Arc::new(plan);
            let live = match engine.networks().await {
                Ok(n) => n,
                Err(e) => return Ok(Err(e)),
            };
            let steps: Vec<Step> = plan
                .networks
                .iter()
                .filter(|n| n.role.is_persistent() && !live.iter().any(|l| l.name == n.name))
                .map(reconcile::create)
                .collect();
            let records = apply(engine, self.opts, &p.name, Trigger::CatchUp, None, &steps).await;
            for r in records.0 {
                self.emit(r)?;
            }
            self.plans.insert(p.name.clone(), (p, Ok(plan)));
        }
        match engine.networks().await {
            Ok(n) => self.networks = Arc::new(n),
            Err(e) => return Ok(Err(e)),
        }
        Ok(Ok(count))
    }

    /// The project's plan, made once per session; a project that cannot be planned is
    /// said once and then left alone.
    fn plan(&mut self, p: &ProjectRef) -> Io<Option<Arc<Plan>>> {
        let stale = match self.plans.get(&p.name) {
            Some((seen, _)) => seen.config_files != p.config_files && !p.config_files.is_empty(),
            None => true,
        };
        if stale {
            let planned = (self.planner)(p).map(Arc::new).map_err(|e| e.to_string());
            if let Err(m) = &planned {
                self.emit(Record::Error {
                    at: now_text(),
                    project: Some(p.name.clone()),
                    container: None,
                    message: format!("project {} is not fenced: {m}", p.name),
                })?;
            }
            self.plans.insert(p.name.clone(), (p.clone(), planned));
        }
        Ok(self.plans[&p.name].1.as_ref().ok().cloned())
    }

    /// Starts handling an event, or queues it behind the container's event in hand.
    fn dispatch(&mut self, engine: &Engine, ev: Event, running: &mut Running<'o>) -> Io<()> {
        if ev.action == "destroy" {
            self.fenced.remove(&ev.id);
            return Ok(());
        }
        if !matches!(ev.action.as_str(), "create" | "start") {
            return Ok(());
        }
        let Some(name) = self.opts.selection.project_of(&ev.attributes) else {
            return Ok(());
        };
        let name = name.to_owned();
        let project = ProjectRef::from_labels(&name, &ev.attributes);
        let Some(plan) = self.plan(&project)? else {
            return Ok(());
        };
        let job = Job {
            event: ev,
            project: name,
            plan,
            networks: self.networks.clone(),
        };
        match self.busy.get_mut(&job.event.id) {
            Some(waiting) => waiting.push_back(job),
            None => {
                self.busy.insert(job.event.id.clone(), VecDeque::new());
                running.push(Box::pin(handle(engine.clone(), self.opts, job)));
            }
        }
        Ok(())
    }

    /// Reports what a handler did, and starts the container's next event.
    fn finish(&mut self, engine: &Engine, done: Handled, running: &mut Running<'o>) -> Io<()> {
        if let Some(networks) = done.networks {
            self.networks = Arc::new(networks);
        }
        for r in done.records {
            self.emit(r)?;
        }
        if let Some(last) = done.last {
            let entry = self.fenced.entry(done.id.clone()).or_insert((0, last));
            *entry = (entry.0 + done.steps, last);
        }
        if let (Trigger::Start, Some(container)) = (done.trigger, done.container) {
            let (steps, last) = match self.fenced.remove(&done.id) {
                Some((n, t)) => (n, Some(t)),
                None => (0, None),
            };
            let window = match (last, done.started) {
                (Some(last), Some(started)) => Some(ms_between(last, started)),
                _ => None,
            };
            self.emit(Record::Fenced {
                at: now_text(),
                project: done.project,
                container,
                steps,
                window_ms: window,
            })?;
        }
        match self.busy.get_mut(&done.id).and_then(VecDeque::pop_front) {
            Some(mut job) => {
                job.networks = self.networks.clone();
                running.push(Box::pin(handle(engine.clone(), self.opts, job)));
            }
            None => {
                self.busy.remove(&done.id);
            }
        }
        Ok(())
    }
}

/// Handles one event of one container.
///
/// On `create` nothing is asked of the engine before the first connect: the container
/// is known from the event (its name and labels), the networks from the session's list,
/// and the connects go out at once — Compose starts the container a few milliseconds
/// after creating it. A stale list only costs a failed connect, which the `start`
/// finishes. On `start` the container is inspected and reconciled in full.
async fn handle(engine: Engine, opts: &Options, job: Job) -> Handled {
    let Job {
        event: ev,
        project,
        plan,
        networks,
    } = job;
    let trigger = if ev.action == "create" {
        Trigger::Create
    } else {
        Trigger::Start
    };
    let mut done = Handled {
        id: ev.id.clone(),
        project,
        trigger,
        started: (trigger == Trigger::Start)
            .then(|| event_time(&ev))
            .flatten(),
        container: None,
        records: Vec::new(),
        steps: 0,
        last: None,
        networks: None,
    };
    if trigger == Trigger::Create {
        // Deployed from the fenced file: Compose attaches its networks itself.
        if ev.attributes.get(labels::MANAGED).map(String::as_str) == Some("true") {
            return done;
        }
        let name = ev.attributes.get("name").cloned().unwrap_or_default();
        done.container = Some(name.clone());
        let observed = Observed {
            networks: networks.as_ref().clone(),
            containers: vec![Container {
                id: ev.id.clone(),
                name,
                labels: ev.attributes.clone(),
                ..Default::default()
            }],
        };
        let mut steps = reconcile::steps(&plan, &observed, opts.strict, &opts.flat);
        steps.retain(|s| before_start(&plan, s));
        if done.apply(&engine, opts, &ev, &steps).await {
            done.networks = engine.networks().await.ok();
        }
        return done;
    }
    let error = |container: Option<&str>, message: String| Record::Error {
        at: now_text(),
        project: Some(done.project.clone()),
        container: container.map(str::to_owned),
        message,
    };
    let (container, networks) = tokio::join!(engine.inspect_container(&ev.id), engine.networks());
    let container = match found(container) {
        Ok(Some(c)) => c,
        // Removed meanwhile: nothing to fence.
        Ok(None) => return done,
        Err(e) => {
            let message = format!("inspecting container {}: {e}", short(&ev.id));
            done.records.push(error(None, message));
            return done;
        }
    };
    let networks = match networks {
        Ok(n) => n,
        Err(e) => {
            done.records
                .push(error(Some(&container.name), e.to_string()));
            return done;
        }
    };
    done.container = Some(container.name.clone());
    let observed = Observed {
        networks,
        containers: vec![container],
    };
    let steps = reconcile::steps(&plan, &observed, opts.strict, &opts.flat);
    warn(&plan, &observed, opts);
    done.networks = if done.apply(&engine, opts, &ev, &steps).await {
        engine.networks().await.ok()
    } else {
        Some(observed.networks)
    };
    done
}

impl Handled {
    fn add(&mut self, (records, count, last): Applied) {
        self.records.extend(records);
        self.steps += count;
        self.last = self.last.max(last);
    }
}

/// Records, how many container steps were done, when the last was.
type Applied = (Vec<Record>, usize, Option<SystemTime>);

/// Applies a container's steps network by network, all networks at once: each
/// network's steps in their order (create, then connect; a reconnect's disconnect, then
/// its connect), then the disconnects from networks it should not be on, so that it is
/// never left without a network.
impl Handled {
    /// Applies the event's steps at once and records them; whether one of them created
    /// a network (the session's list of networks is then stale).
    async fn apply(&mut self, engine: &Engine, opts: &Options, ev: &Event, steps: &[Step]) -> bool {
        let since = event_time(ev);
        let applied = apply_at_once(engine, opts, &self.project, self.trigger, since, steps).await;
        self.add(applied);
        steps.iter().any(|s| s.action == Action::Create)
    }
}

async fn apply_at_once(
    engine: &Engine,
    opts: &Options,
    project: &str,
    trigger: Trigger,
    since: Option<SystemTime>,
    steps: &[Step],
) -> Applied {
    let (joins, leaves) = phases(steps);
    let first = join_all(
        joins
            .iter()
            .map(|g| apply(engine, opts, project, trigger, since, g)),
    )
    .await;
    let then = apply(engine, opts, project, trigger, since, &leaves).await;
    let mut out: Applied = (Vec::new(), 0, None);
    for (records, count, last) in first.into_iter().chain([then]) {
        out.0.extend(records);
        out.1 += count;
        out.2 = out.2.max(last);
    }
    out
}

/// A container's steps by network, in their order: those that join a network (all at
/// once), and then the disconnects from networks it leaves.
fn phases(steps: &[Step]) -> (Vec<Vec<Step>>, Vec<Step>) {
    let mut groups: Vec<Vec<Step>> = Vec::new();
    for s in steps {
        match groups.iter_mut().find(|g| g[0].network == s.network) {
            Some(g) => g.push(s.clone()),
            None => groups.push(vec![s.clone()]),
        }
    }
    let (joins, leaves): (Vec<Vec<Step>>, Vec<Vec<Step>>) = groups
        .into_iter()
        .partition(|g| g.iter().any(|s| s.action != Action::Disconnect));
    (joins, leaves.into_iter().flatten().collect())
}

/// Applies steps one by one, a record each; a failed step is reported and the others
/// are still tried. The records, how many steps were done, and when the last was.
async fn apply(
    engine: &Engine,
    opts: &Options,
    project: &str,
    trigger: Trigger,
    since: Option<SystemTime>,
    steps: &[Step],
) -> (Vec<Record>, usize, Option<SystemTime>) {
    let mut records = Vec::new();
    let (mut count, mut last) = (0, None);
    for s in steps {
        let result = reconcile::apply(engine, std::slice::from_ref(s), opts.limit).await;
        let done = SystemTime::now();
        match result {
            Ok(()) => {
                if s.container_id().is_some() {
                    count += 1;
                    last = Some(done);
                }
                records.push(Record::Step {
                    at: now_text(),
                    trigger,
                    project: project.to_owned(),
                    step: Box::new(s.clone()),
                    latency_ms: since.map(|t| ms_between(done, t)),
                });
            }
            Err(e) => records.push(Record::Error {
                at: now_text(),
                project: Some(project.to_owned()),
                container: s.container.clone(),
                message: e.to_string(),
            }),
        }
    }
    (records, count, last)
}

/// Says what reconcile would say about the observed containers besides its steps.
fn warn(plan: &Plan, observed: &Observed, opts: &Options) {
    for w in reconcile::warnings(plan, observed, opts.strict, &opts.flat) {
        match w {
            Warning::Log(m) => tracing::info!("{m}"),
            Warning::Loud(m) => eprintln!("netfence: warning: {m}"),
        }
    }
}

/// The steps to take as a container is created, before it starts: creating a missing
/// environment, proxy or shared network and connecting to it. Compose connects the
/// project's own networks itself right after the create; disconnects wait for the start.
fn before_start(plan: &Plan, s: &Step) -> bool {
    let cross_project = || {
        plan.networks
            .iter()
            .any(|n| n.name == s.network && n.role.is_persistent())
    };
    match s.action {
        Action::Create | Action::Connect => cross_project(),
        Action::Disconnect => false,
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn projects_are_selected_by_name_or_by_the_policys_label() {
        let sel = Selection {
            projects: ["shop".to_owned()].into(),
            label: Some(Selection::parse_label("coolify.managed=true")),
        };
        let shop = labels(&[(compose::PROJECT, "shop")]);
        let blog = labels(&[(compose::PROJECT, "blog"), ("coolify.managed", "true")]);
        let other = labels(&[(compose::PROJECT, "other"), ("coolify.managed", "false")]);
        let oneoff = labels(&[(compose::PROJECT, "shop"), (compose::ONEOFF, "True")]);
        assert_eq!(sel.project_of(&shop), Some("shop"));
        assert_eq!(sel.project_of(&blog), Some("blog"));
        assert_eq!(sel.project_of(&other), None);
        assert_eq!(sel.project_of(&oneoff), None);
        assert_eq!(
            sel.project_of(&labels(&[("coolify.managed", "true")])),
            None
        );
        let any = Selection {
            label: Some(Selection::parse_label("coolify.managed")),
            ..Default::default()
        };
        assert_eq!(any.project_of(&other), Some("other"));
        assert_eq!(
            sel.filters(),
            [
                vec!["com.docker.compose.project=shop".to_owned()],
                vec!["coolify.managed=true".to_owned()]
            ]
        );
    }

    #[test]
    fn compose_labels_name_the_projects_files() {
        let p = ProjectRef::from_labels(
            "shop",
            &labels(&[
                (
                    compose::CONFIG_FILES,
                    "/srv/shop/compose.yml,/srv/shop/prod.yml",
                ),
                (compose::WORKING_DIR, "/srv/shop"),
            ]),
        );
        assert_eq!(
            p.config_files,
            [
                PathBuf::from("/srv/shop/compose.yml"),
                PathBuf::from("/srv/shop/prod.yml")
            ]
        );
        assert_eq!(p.working_dir, Some(PathBuf::from("/srv/shop")));
    }

    /// The plan of `reconcile`'s own tests: `web` public, `db` private, env `production`.
    fn plan() -> Plan {
        let compose = "services:\n  web: {image: x, labels: {traefik.enable: 'true'}, networks: [front, back]}\n  db: {image: x, networks: [back]}\nnetworks:\n  front: {}\n  back: {}\n";
        let opts = crate::plan::Options {
            scope: Some(crate::Scope::Env("production".into())),
            project: Some("shop".into()),
            ..Default::default()
        };
        crate::fence_str(compose, Some("proxy: {network: nf-proxy}\n"), &opts)
            .unwrap()
            .0
    }

    #[test]
    fn before_a_start_only_cross_project_networks_are_joined() {
        let plan = plan();
        let observed = Observed {
            networks: Vec::new(),
            containers: vec![crate::engine::client::docker::Container {
                id: "c1".into(),
                name: "shop-web-1".into(),
                labels: labels(&[(compose::PROJECT, "shop"), (compose::SERVICE, "web")]),
                ..Default::default()
            }],
        };
        let all = reconcile::steps(&plan, &observed, false, &[]);
        let early: Vec<String> = all
            .iter()
            .filter(|s| before_start(&plan, s))
            .map(|s| format!("{:?} {}", s.action, s.network))
            .collect();
        assert_eq!(
            early,
            [
                "Create nf-proxy",
                "Connect nf-proxy",
                "Create nf-env-production",
                "Connect nf-env-production",
            ]
        );
        assert!(
            all.iter().any(|s| s.network == "nf-production-shop-front"),
            "{all:?}"
        );
    }

    #[test]
    fn a_containers_networks_are_joined_at_once_and_left_afterwards() {
        let plan = plan();
        let net = |id: &str, name: &str, pairs: &[(&str, &str)]| LiveNetwork {
            id: id.into(),
            name: name.into(),
            labels: labels(pairs),
            ..Default::default()
        };
        let ep = |id: &str, aliases: &[&str]| crate::engine::client::docker::Endpoint {
            network_id: id.into(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        };
        let observed = Observed {
            networks: vec![
                net(
                    "b1",
                    "shop_back",
                    &[(compose::PROJECT, "shop"), (compose::NETWORK, "back")],
                ),
                net("e1", "nf-env-production", &[(labels::MANAGED, "true")]),
                net(
                    "p1",
                    "nf-proxy",
                    &[(labels::MANAGED, "true"), (labels::ROLE, "proxy")],
                ),
            ],
            containers: vec![Container {
                id: "c1".into(),
                name: "shop-db-1".into(),
                labels: labels(&[(compose::PROJECT, "shop"), (compose::SERVICE, "db")]),
                networks: [
                    ("shop_back".to_owned(), ep("b1", &["db"])),
                    ("nf-env-production".to_owned(), ep("e1", &[])),
                    ("nf-proxy".to_owned(), ep("p1", &[])),
                ]
                .into(),
                ..Default::default()
            }],
        };
        let steps = reconcile::steps(&plan, &observed, false, &[]);
        let (joins, leaves) = phases(&steps);
        let line = |s: &Step| format!("{:?} {}", s.action, s.network);
        let joins: Vec<Vec<String>> = joins.iter().map(|g| g.iter().map(line).collect()).collect();
        assert_eq!(
            joins,
            [["Disconnect nf-env-production", "Connect nf-env-production"]],
            "a reconnect for aliases stays in order"
        );
        assert_eq!(
            leaves.iter().map(line).collect::<Vec<_>>(),
            ["Disconnect nf-proxy"]
        );
    }

    #[test]
    fn records_are_json_lines_with_an_event_name() {
        let r = Record::Fenced {
            at: "2026-01-01T00:00:00.000Z".into(),
            project: "shop".into(),
            container: "shop-web-1".into(),
            steps: 2,
            window_ms: Some(-12.5),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({
                "event": "fenced", "at": "2026-01-01T00:00:00.000Z", "project": "shop",
                "container": "shop-web-1", "steps": 2, "window_ms": -12.5,
            })
        );
        let lost = Record::Lost {
            at: "t".into(),
            reason: "r".into(),
            retry_in_ms: 100,
        };
        assert_eq!(serde_json::to_value(&lost).unwrap()["event"], "lost");
        assert_eq!(
            ms_between(UNIX_EPOCH, UNIX_EPOCH + Duration::from_millis(3)),
            -3.0
        );
    }
}
