//! The `io.netfence.owner` label: which `netfence run` process owns a scope's objects,
//! so `gc` can tell a run that is still going from one that is over.
//!
//! Value: `<host>/<pid>/<start>`, where `start` is the process start time from
//! `/proc/<pid>/stat` (field 22): a pid alone may have been reused by now.

/// This process's owner label value.
pub fn current() -> String {
    let pid = std::process::id();
    format!(
        "{}/{pid}/{}",
        hostname(),
        start_time(pid).unwrap_or_default()
    )
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_owned)
}

/// An owner label for people: `netfence run` pid 1234 on host h.
pub fn describe(label: &str) -> String {
    let mut parts = label.splitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(host), Some(pid)) if !host.is_empty() && pid.parse::<u32>().is_ok() => {
            format!("`netfence run` pid {pid} on host {host}")
        }
        _ if label.is_empty() => "another `netfence run` (owner not recorded yet)".to_owned(),
        _ => format!("owner {label}"),
    }
}

/// What an owner label says about its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// The owning process runs on this host.
    Alive,
    /// The owning process was on this host and is gone.
    Gone,
    /// Another host's process, or a label netfence cannot read: only age decides.
    Unknown,
}

pub fn liveness(label: &str) -> Liveness {
    let mut parts = label.splitn(3, '/');
    let (Some(host), Some(pid), Some(start)) = (parts.next(), parts.next(), parts.next()) else {
        return Liveness::Unknown;
    };
    if host != hostname() {
        return Liveness::Unknown;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return Liveness::Unknown;
    };
    match start_time(pid) {
        Some(s) if start.is_empty() || s == start => Liveness::Alive,
        _ => Liveness::Gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_pid_is_gone() {
        assert_eq!(liveness(&current()), Liveness::Alive);
        let host = hostname();
        // Same pid, other start time: the pid was reused.
        assert_eq!(
            liveness(&format!("{host}/{}/1", std::process::id())),
            Liveness::Gone
        );
        assert_eq!(liveness(&format!("{host}/4194999/5")), Liveness::Gone);
        assert_eq!(liveness("elsewhere/1/1"), Liveness::Unknown);
        assert_eq!(liveness("garbage"), Liveness::Unknown);
    }

    #[test]
    fn an_owner_is_described_by_pid_and_host() {
        assert_eq!(describe("box/42/9"), "`netfence run` pid 42 on host box");
        assert_eq!(describe("garbage"), "owner garbage");
    }
}
