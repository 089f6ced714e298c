//! What a failing service said: its last log lines, for the messages of a stack that
//! does not come up or crashes while a command runs against it.

use crate::engine::{stacks::wait, Engine, EngineError};

/// Lines of each failing service's log shown when a stack does not come up.
const LOG_LINES: &str = "40";

/// A message that quotes containers' logs, and which containers (by id) it quotes: what
/// crashed under CMD, the logs of those that did not start.
#[derive(Debug, Clone, Default, thiserror::Error)]
#[error("{text}")]
pub struct Quoted {
    pub text: String,
    pub containers: Vec<String>,
}

/// Why a stack did not come up, and which containers (by id) its message quotes the
/// logs of.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct NotUp {
    pub error: EngineError,
    pub containers: Vec<String>,
}

impl From<EngineError> for NotUp {
    fn from(error: EngineError) -> NotUp {
        NotUp {
            error,
            containers: Vec::new(),
        }
    }
}

/// The error for a stack that did not come up, with the failing services' logs.
pub async fn not_up(engine: &Engine, not_ready: wait::NotReady) -> NotUp {
    let mut logs = String::new();
    for (svc, id) in &not_ready.failed {
        logs.push_str(&service_logs(engine, svc, id).await);
    }
    NotUp {
        error: EngineError::NotReady(format!(
            "the stack did not come up: {}{logs}",
            not_ready.message
        )),
        containers: not_ready.failed.into_iter().map(|(_, id)| id).collect(),
    }
}

/// Services that exited non-zero (with their logs), if any.
pub async fn crashed(engine: &Engine, project: &str) -> Option<Quoted> {
    // Errors are ignored: the run's own outcome is what counts.
    let states = wait::look_settled(engine, project, &wait::Expect::default())
        .await
        .unwrap_or_default();
    let mut what = Vec::new();
    let mut logs = String::new();
    let mut containers = Vec::new();
    for (id, (svc, state)) in &states {
        if let wait::State::Exited(code) = state {
            what.push(format!("`{svc}` exited with status {code}"));
            logs.push_str(&service_logs(engine, svc, id).await);
            containers.push(id.clone());
        }
    }
    (!what.is_empty()).then(|| Quoted {
        text: format!("service {} during the run{logs}", what.join(", ")),
        containers,
    })
}

/// Logs of the project's containers that are not running (after a failed `up`).
pub async fn failing_logs(engine: &Engine, project: &str) -> Quoted {
    let list = engine
        .project_containers(project, true)
        .await
        .unwrap_or_default();
    let mut out = Quoted::default();
    for c in list.iter().filter(|c| c.state != "running") {
        let svc = c.service().unwrap_or_default();
        out.text.push_str(&service_logs(engine, svc, &c.id).await);
        out.containers.push(c.id.clone());
    }
    out
}

/// The last lines of one container's log, indented under a heading.
async fn service_logs(engine: &Engine, service: &str, id: &str) -> String {
    let text = engine.logs(id, LOG_LINES).await;
    let body = if text.trim().is_empty() {
        "    (no output)".to_owned()
    } else {
        indent(text.trim_end())
    };
    format!("\n  logs of service `{service}` (last {LOG_LINES} lines):\n{body}")
}

pub fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
