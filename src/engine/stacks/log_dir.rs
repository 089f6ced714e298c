//! `run --logs DIR`: every container's whole log and final state, kept in DIR before the
//! stack is torn down (a CI job keeps DIR as an artifact; the stack and its logs are
//! gone by then).
//!
//! One pair of files per container, named after its service and Compose's number for it:
//! `web-1.log` holds the log, one entry a line as `TIMESTAMP STREAM TEXT` (STREAM is
//! `stdout`, `stderr`, or `tty` for a container with a terminal); `web-1.json` holds its
//! final state (status, exit code, health, restart count, …). A log keeps at most its last
//! [`FILE_LIMIT`] bytes; what was left out is said on its first line.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::engine::client::docker::{FinalState, LogStream};
use crate::engine::stacks::logs::indent;
use crate::engine::Engine;

/// The most of one container's log that is kept: its last 10 MiB.
pub const FILE_LIMIT: usize = 10 * 1024 * 1024;
/// Lines of each exited or restarted container's log shown on stderr after a failure.
const EXCERPT_LINES: usize = 20;

/// Why the logs could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    #[error("--logs {}: {source}", dir.display())]
    Write {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--logs: {0}")]
    Engine(#[from] crate::engine::EngineError),
}

/// What was kept of one container.
#[derive(Debug, Clone)]
pub struct Kept {
    pub state: FinalState,
    /// `web-1`: the log is `<stem>.log`, the state `<stem>.json`.
    pub stem: String,
    /// The last lines of its log, without timestamps and streams.
    pub tail: Vec<String>,
}

impl Kept {
    /// Did it stop, or start over, while the stack was up? Those are the ones a failure
    /// is usually about.
    pub fn exited_or_restarted(&self) -> bool {
        matches!(self.state.status.as_str(), "exited" | "dead" | "restarting")
            || self.state.restart_count > 0
    }
}

/// Makes DIR (and its parents) if missing: done before the stack is started, so a DIR
/// that cannot be written is found before anything is on the engine.
pub fn prepare(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if !dir.is_dir() {
        return Err(std::io::Error::other("not a directory"));
    }
    Ok(())
}

/// Writes the log and final state of every container of `project` into `dir`. A
/// container that cannot be read is left out with a warning; a file that cannot be
/// written is the error.
pub async fn keep(engine: &Engine, project: &str, dir: &Path) -> Result<Vec<Kept>, KeepError> {
    let place = |source: std::io::Error| KeepError::Write {
        dir: dir.to_path_buf(),
        source,
    };
    prepare(dir).map_err(place)?;
    let list = engine.project_containers(project, true).await?;
    let mut kept = Vec::new();
    // One container at a time: each log is held in memory (up to FILE_LIMIT) until
    // written.
    for (i, c) in list.iter().enumerate() {
        let state = match engine.final_state(&c.id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("--logs: container {} could not be read: {e}", c.name);
                continue;
            }
        };
        let mut log = Bounded::default();
        if let Err(e) = engine.whole_log(&c.id, |s, b| log.push(entry(s, b))).await {
            tracing::warn!("--logs: the log of {} broke off: {e}", c.name);
        }
        let stem = stem(&state, i + 1);
        let record = Record {
            state: &state,
            log: format!("{stem}.log"),
            log_bytes_left_out: log.dropped_bytes,
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|e| place(e.into()))?;
        write_file(dir, &format!("{stem}.json"), &json).map_err(place)?;
        let tail = log.tail(EXCERPT_LINES);
        write_file(dir, &format!("{stem}.log"), &log.into_bytes()).map_err(place)?;
        kept.push(Kept { state, stem, tail });
    }
    kept.sort_by(|a, b| a.stem.cmp(&b.stem));
    Ok(kept)
}

/// What stderr says after a failure: where the logs are, and the last lines of every
/// container that exited or restarted. `shown`: containers whose logs the error itself
/// quoted already (by id); they are named without their lines.
pub fn report(dir: &Path, kept: &[Kept], shown: &[String]) -> String {
    let mut out = format!(
        "the log and final state of {} container(s) are in {}",
        kept.len(),
        dir.display()
    );
    for k in kept.iter().filter(|k| k.exited_or_restarted()) {
        out.push_str(&format!(
            "\n  `{}` ({}): {}",
            k.state.service,
            k.stem,
            how(&k.state)
        ));
        if shown.contains(&k.state.id) {
            out.push_str("; its log is quoted above");
        } else if k.tail.is_empty() {
            out.push_str("; no output");
        } else {
            let lines = k.tail.len();
            out.push_str(&format!("; last {lines} line(s):\n"));
            out.push_str(&indent(&k.tail.join("\n")));
        }
    }
    out
}

/// `exited with status 1, restarted 3 time(s)`.
fn how(s: &FinalState) -> String {
    let mut what = match s.status.as_str() {
        "exited" | "dead" => format!("{} with status {}", s.status, s.exit_code),
        other => other.to_owned(),
    };
    if s.oom_killed {
        what.push_str(" (killed: out of memory)");
    }
    if s.restart_count > 0 {
        what.push_str(&format!(", restarted {} time(s)", s.restart_count));
    }
    if let Some(h) = &s.health {
        what.push_str(&format!(", {h}"));
    }
    what
}

/// The state file: the final state, and which log goes with it.
#[derive(Serialize)]
struct Record<'a> {
    #[serde(flatten)]
    state: &'a FinalState,
    log: String,
    /// The log's beginning that was left out to keep it within [`FILE_LIMIT`].
    log_bytes_left_out: u64,
}

/// `<service>-<number>`, with anything but letters, digits, `.`, `_` and `-` as `_` (a
/// name never leaves DIR).
fn stem(state: &FinalState, fallback: usize) -> String {
    let service = if state.service.is_empty() {
        state.name.as_str()
    } else {
        state.service.as_str()
    };
    let safe: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let number = state.number.map_or(fallback, |n| n as usize);
    format!("{safe}-{number}")
}

/// One log entry as a line of the file: `TIMESTAMP STREAM TEXT`.
fn entry(stream: LogStream, raw: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(raw.len() + 8);
    match raw.iter().position(|&b| b == b' ') {
        Some(i) => {
            line.extend_from_slice(&raw[..=i]);
            line.extend_from_slice(stream.name().as_bytes());
            line.push(b' ');
            line.extend_from_slice(&raw[i + 1..]);
        }
        None => {
            line.extend_from_slice(stream.name().as_bytes());
            line.push(b' ');
            line.extend_from_slice(raw);
        }
    }
    if line.last() != Some(&b'\n') {
        line.push(b'\n');
    }
    line
}

/// The last [`FILE_LIMIT`] bytes of a log, in whole lines.
#[derive(Debug, Default)]
struct Bounded {
    lines: VecDeque<Vec<u8>>,
    bytes: usize,
    dropped_lines: u64,
    dropped_bytes: u64,
}

impl Bounded {
    fn push(&mut self, line: Vec<u8>) {
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.bytes > FILE_LIMIT {
            let Some(first) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= first.len();
            self.dropped_lines += 1;
            self.dropped_bytes += first.len() as u64;
        }
    }

    /// The last `n` lines' text: no timestamp, no stream, no line end.
    fn tail(&self, n: usize) -> Vec<String> {
        let skip = self.lines.len().saturating_sub(n);
        self.lines
            .iter()
            .skip(skip)
            .map(|l| {
                let text = String::from_utf8_lossy(l);
                let text = text.trim_end_matches(['\n', '\r']);
                // TIMESTAMP STREAM TEXT
                let mut parts = text.splitn(3, ' ');
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(_), Some(_), Some(rest)) => rest.to_owned(),
                    _ => String::new(),
                }
            })
            .collect()
    }

    fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes + 200);
        if self.dropped_lines > 0 {
            out.extend_from_slice(
                format!(
                    "[netfence: the first {} line(s), {} byte(s), are left out: a log keeps its last {} MiB]\n",
                    self.dropped_lines,
                    self.dropped_bytes,
                    FILE_LIMIT / (1024 * 1024)
                )
                .as_bytes(),
            );
        }
        for l in self.lines {
            out.extend_from_slice(&l);
        }
        out
    }
}

/// Writes `dir/name` whole or not at all (a temporary file renamed over it): a reader
/// never sees half a file, and a symlink planted at the name is replaced, not followed.
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_gets_its_stream_after_the_timestamp() {
        let e = entry(LogStream::Stderr, b"2026-01-02T03:04:05.000000006Z boom\n");
        assert_eq!(e, b"2026-01-02T03:04:05.000000006Z stderr boom\n");
        let e = entry(LogStream::Stdout, b"2026-01-02T03:04:05Z no newline");
        assert_eq!(e, b"2026-01-02T03:04:05Z stdout no newline\n");
    }

    #[test]
    fn a_long_log_keeps_its_end_and_says_what_it_left_out() {
        let mut b = Bounded::default();
        let line = |i: usize| format!("T stdout {i:0>1023}\n").into_bytes();
        let total = FILE_LIMIT / 1024 + 100;
        for i in 0..total {
            b.push(line(i));
        }
        assert!(b.bytes <= FILE_LIMIT);
        assert!(b.dropped_lines >= 100);
        let tail = b.tail(2);
        assert_eq!(tail.len(), 2);
        assert!(tail[1].ends_with(&(total - 1).to_string()));
        let bytes = b.into_bytes();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("[netfence: the first "), "{}", &text[..80]);
        assert!(bytes.len() <= FILE_LIMIT + 200);
    }

    #[test]
    fn file_names_stay_inside_the_directory() {
        let s = |service: &str, number| FinalState {
            service: service.into(),
            number,
            ..FinalState::default()
        };
        assert_eq!(stem(&s("web", Some(2)), 9), "web-2");
        assert_eq!(stem(&s("../x", None), 3), ".._x-3");
        let named = FinalState {
            name: "lonely".into(),
            ..FinalState::default()
        };
        assert_eq!(stem(&named, 1), "lonely-1");
    }

    #[test]
    fn the_report_names_exited_and_restarted_containers_with_their_last_lines() {
        let kept = |service: &str, status: &str, code, restarts, tail: &[&str]| Kept {
            state: FinalState {
                id: format!("id-{service}"),
                service: service.into(),
                status: status.into(),
                exit_code: code,
                restart_count: restarts,
                ..FinalState::default()
            },
            stem: format!("{service}-1"),
            tail: tail.iter().map(|s| s.to_string()).collect(),
        };
        let all = [
            kept("web", "running", 0, 0, &["fine"]),
            kept("db", "exited", 3, 0, &["db: disk full"]),
            kept("worker", "running", 0, 2, &["worker: retry"]),
            kept("api", "exited", 1, 0, &["api: shown"]),
        ];
        let r = report(Path::new("/logs"), &all, &["id-api".to_owned()]);
        assert!(r.starts_with("the log and final state of 4 container(s) are in /logs"));
        assert!(r.contains("`db` (db-1): exited with status 3; last 1 line(s):\n    db: disk full"));
        assert!(r.contains("`worker` (worker-1): running, restarted 2 time(s)"));
        assert!(r.contains("`api` (api-1): exited with status 1; its log is quoted above"));
        assert!(!r.contains("fine"));
    }

    #[test]
    fn files_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "keep me").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("web-1.log")).unwrap();
        write_file(dir.path(), "web-1.log", b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("web-1.log")).unwrap(),
            "new"
        );
    }
}
