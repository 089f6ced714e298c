//! Waiting until a stack is ready. What "ready" means is the caller's [`WaitFor`]: every
//! container running; also healthy where it has a healthcheck (the default); also every
//! published TCP port answering from this host. A container that exits non-zero, or
//! turns unhealthy where health counts, fails the wait. One list call per poll: the
//! health state is read from the container's status text.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::stacks::port_probe::{self, ClosedPort};
use crate::engine::{Engine, EngineResult};

const POLL: Duration = Duration::from_millis(150);
/// A stack counts as ready when it is still ready this much later: a service that
/// crashes right after it starts is seen as running by the first look.
const SETTLE: Duration = Duration::from_millis(100);

/// When a stack counts as ready (`--wait`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WaitFor {
    /// Every container running (a one-shot job that exited 0 counts); health is not
    /// waited for, nor judged.
    Running,
    /// Running, and healthy where the container has a healthcheck.
    #[default]
    Healthy,
    /// Healthy, and every published TCP port of every running container accepts a
    /// connection from this host: a service without a healthcheck is ready when it
    /// listens, not when its process starts.
    Ports,
}

/// What a wait expects of a stack.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub wait: WaitFor,
    /// Services whose containers are not waited for: those the active Compose profiles
    /// leave out (a container of one, left by an earlier `up`, is not this stack's).
    pub ignored: BTreeSet<String>,
}

/// One container's state as far as readiness goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Ready,
    Starting,
    /// Exited with this code (0 counts as ready: a one-shot job that finished).
    Exited(i64),
    Unhealthy,
}

/// Reads `Up 3 seconds (healthy)`, `Exited (1) 2 seconds ago` and the like.
pub fn classify(state: &str, status: &str) -> State {
    match state {
        "running" => {
            if status.contains("(unhealthy)") {
                State::Unhealthy
            } else if status.contains("health: starting") {
                State::Starting
            } else {
                State::Ready
            }
        }
        "exited" | "dead" => {
            let code = status
                .split_once('(')
                .and_then(|(_, r)| r.split_once(')'))
                .and_then(|(c, _)| c.trim().parse().ok())
                .unwrap_or(-1);
            if code == 0 {
                State::Ready
            } else {
                State::Exited(code)
            }
        }
        _ => State::Starting,
    }
}

/// [`classify`] under `wait`: with [`WaitFor::Running`] health does not count.
fn judge(state: &str, status: &str, wait: WaitFor) -> State {
    match classify(state, status) {
        State::Starting | State::Unhealthy if wait == WaitFor::Running && state == "running" => {
            State::Ready
        }
        s => s,
    }
}

/// Why the stack is not ready: the services that failed, and how.
#[derive(Debug)]
pub struct NotReady {
    pub message: String,
    /// Containers to show logs of: (service, container id).
    pub failed: Vec<(String, String)>,
}

pub type States = BTreeMap<String, (String, State)>;

/// One look at the project's containers: container id → (service, state), without the
/// services `expect` ignores.
async fn look(engine: &Engine, project: &str, expect: &Expect) -> EngineResult<States> {
    let mut states = States::new();
    for c in engine.project_containers(project, true).await? {
        let service = c.service().unwrap_or_default().to_owned();
        if expect.ignored.contains(&service) {
            continue;
        }
        let state = judge(&c.state, &c.status, expect.wait);
        tracing::trace!("{service}: {:?} {:?} -> {state:?}", c.state, c.status);
        states.insert(c.id, (service, state));
    }
    Ok(states)
}

/// How long the engine may take to notice that a container's process ended.
const CATCH_UP: Duration = Duration::from_secs(5);

/// A look that does not trust "running" blindly: the engine learns of a container's exit
/// from its runtime asynchronously, and under load it still reports a container as
/// running well after its process ended (a service that fails at once then passes for
/// ready). On a local engine, a running container whose process is gone is waited for
/// until the engine says how it ended.
pub async fn look_settled(engine: &Engine, project: &str, expect: &Expect) -> EngineResult<States> {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let states = look(engine, project, expect).await?;
        let mut lagging = false;
        for (id, (_, state)) in &states {
            if *state == State::Ready && process_gone(engine, id).await {
                lagging = true;
                break;
            }
        }
        if !lagging || Instant::now() >= deadline {
            return Ok(states);
        }
        tracing::debug!("{project}: a container's process ended before the engine noticed");
        tokio::time::sleep(POLL).await;
    }
}

/// Is the container said to be running, but its main process no longer there? Only
/// a local engine's process ids are this host's: elsewhere the answer is no.
async fn process_gone(engine: &Engine, id: &str) -> bool {
    if !crate::engine::is_local() {
        return false;
    }
    match engine.inspect_container(id).await {
        Ok(c) if c.running && c.pid > 0 => !pid_alive(c.pid),
        _ => false,
    }
}

/// A process that exists and has not become a zombie.
fn pid_alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Containers that exited non-zero or are unhealthy.
fn failures(states: &States) -> Option<NotReady> {
    let failed: Vec<(&String, &String, &State)> = states
        .iter()
        .filter(|(_, (_, s))| matches!(s, State::Exited(_) | State::Unhealthy))
        .map(|(id, (svc, s))| (svc, id, s))
        .collect();
    if failed.is_empty() {
        return None;
    }
    let what: Vec<String> = failed
        .iter()
        .map(|(svc, _, s)| match s {
            State::Exited(c) => format!("`{svc}` exited with status {c}"),
            _ => format!("`{svc}` is unhealthy"),
        })
        .collect();
    Some(NotReady {
        message: format!("service {}", what.join(", ")),
        failed: failed
            .into_iter()
            .map(|(s, id, _)| (s.clone(), id.clone()))
            .collect(),
    })
}

/// Polls until every container of `project` is ready as `expect` says, or `deadline`
/// passes. Returns when it first saw them all ready; [`confirm`] looks once more a
/// moment later.
pub async fn until_ready(
    engine: &Engine,
    project: &str,
    deadline: Instant,
    show_progress: bool,
    expect: &Expect,
) -> EngineResult<Result<Instant, NotReady>> {
    let bar = show_progress.then(|| progress_bar(project));
    let result = loop {
        let states = look(engine, project, expect).await?;
        if let Some(b) = &bar {
            b.set_length(states.len() as u64);
            b.set_position(states.values().filter(|(_, s)| *s == State::Ready).count() as u64);
        }
        if let Some(f) = failures(&states) {
            break Err(f);
        }
        let mut closed = Vec::new();
        if !states.is_empty() && states.values().all(|(_, s)| *s == State::Ready) {
            if expect.wait != WaitFor::Ports {
                break Ok(Instant::now());
            }
            closed = port_probe::closed_ports(engine, &states).await;
            if closed.is_empty() {
                break Ok(Instant::now());
            }
        }
        if Instant::now() >= deadline {
            break Err(timed_out(&states, &closed));
        }
        tokio::time::sleep(POLL).await;
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(result)
}

fn progress_bar(project: &str) -> ProgressBar {
    let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    b.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:20}] {pos}/{len} ready ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    b.set_message(format!("waiting for {project}"));
    b.enable_steady_tick(Duration::from_millis(120));
    b
}

/// The deadline passed: the containers that were not ready, else the published ports
/// that did not answer.
fn timed_out(states: &States, closed: &[ClosedPort]) -> NotReady {
    if states.is_empty() {
        return NotReady {
            message: "no container of the project appeared".to_owned(),
            failed: Vec::new(),
        };
    }
    let waiting: Vec<(String, String)> = states
        .iter()
        .filter(|(_, (_, s))| *s != State::Ready)
        .map(|(id, (svc, _))| (svc.clone(), id.clone()))
        .collect();
    if waiting.is_empty() && !closed.is_empty() {
        let ports: Vec<String> = closed.iter().map(ClosedPort::to_string).collect();
        return NotReady {
            message: format!(
                "--timeout passed while waiting for published ports (--wait ports): {}",
                ports.join(", ")
            ),
            failed: closed
                .iter()
                .map(|c| (c.service.clone(), c.container.clone()))
                .collect(),
        };
    }
    let names: Vec<String> = states
        .values()
        .filter(|(_, s)| *s != State::Ready)
        .map(|(svc, s)| match s {
            State::Starting => format!("`{svc}` (starting, or health: starting)"),
            _ => format!("`{svc}`"),
        })
        .collect();
    NotReady {
        message: format!("--timeout passed while waiting for {}", names.join(", ")),
        failed: waiting,
    }
}

/// The second look, [`SETTLE`] after `ready_at`: a container that crashed right after it
/// started, or began restarting, fails the run now rather than under CMD.
pub async fn confirm(
    engine: &Engine,
    project: &str,
    ready_at: Instant,
    expect: &Expect,
) -> EngineResult<Result<(), NotReady>> {
    tokio::time::sleep_until((ready_at + SETTLE).into()).await;
    let states = look_settled(engine, project, expect).await?;
    if let Some(f) = failures(&states) {
        return Ok(Err(f));
    }
    let lapsed: Vec<(String, String)> = states
        .iter()
        .filter(|(_, (_, s))| *s != State::Ready)
        .map(|(id, (svc, _))| (svc.clone(), id.clone()))
        .collect();
    if lapsed.is_empty() {
        return Ok(Ok(()));
    }
    let names: Vec<String> = lapsed.iter().map(|(s, _)| format!("`{s}`")).collect();
    Ok(Err(NotReady {
        message: format!(
            "service {} stopped running right after it started",
            names.join(", ")
        ),
        failed: lapsed,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_is_alive_and_a_vanished_one_is_not() {
        assert!(pid_alive(std::process::id() as i64));
        assert!(!pid_alive(i64::from(i32::MAX)));
    }

    #[test]
    fn status_texts() {
        assert_eq!(classify("running", "Up 2 seconds"), State::Ready);
        assert_eq!(classify("running", "Up 2 seconds (healthy)"), State::Ready);
        assert_eq!(
            classify("running", "Up 1 second (health: starting)"),
            State::Starting
        );
        assert_eq!(
            classify("running", "Up 9 seconds (unhealthy)"),
            State::Unhealthy
        );
        assert_eq!(
            classify("exited", "Exited (3) 1 second ago"),
            State::Exited(3)
        );
        assert_eq!(classify("exited", "Exited (0) 1 second ago"), State::Ready);
        assert_eq!(classify("created", "Created"), State::Starting);
        assert_eq!(
            classify("restarting", "Restarting (1) 1 second ago"),
            State::Starting
        );
    }

    #[test]
    fn running_does_not_wait_for_health_nor_judge_it() {
        let starting = "Up 1 second (health: starting)";
        assert_eq!(judge("running", starting, WaitFor::Running), State::Ready);
        assert_eq!(judge("running", starting, WaitFor::Ports), State::Starting);
        let sick = "Up 9 seconds (unhealthy)";
        assert_eq!(judge("running", sick, WaitFor::Running), State::Ready);
        assert_eq!(judge("running", sick, WaitFor::Healthy), State::Unhealthy);
        let restarting = "Restarting (1) 1 second ago";
        assert_eq!(
            judge("restarting", restarting, WaitFor::Running),
            State::Starting
        );
        let failed = "Exited (2) 1 second ago";
        assert_eq!(judge("exited", failed, WaitFor::Running), State::Exited(2));
    }
}
