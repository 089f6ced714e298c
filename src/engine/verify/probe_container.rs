//! Real traffic for `verify --probe-image`: a short-lived container that joins another
//! container's network namespace (`network_mode: container:<id>`) and runs one shell
//! script of DNS, TCP and ICMP checks with busybox tools (`nslookup`, `nc`, `ping`,
//! `timeout`).
//!
//! TCP is judged by what the connection attempt met, read from busybox `nc`'s own words
//! (busybox 1.35; `nc -w2 IP PORT -e true` connects, runs `true` and exits 0 at once, so
//! a server that holds the connection open cannot stall the probe):
//! - connected: exit 0;
//! - `nc: can't connect to remote host (IP): Connection refused`, at once: the target's
//!   kernel answered with a reset — the address is reachable, nothing listens there;
//! - `nc: timed out` after two seconds (or `No route to host`, `Network is unreachable`):
//!   silence. Only then is the address tried with one `ping` as a second witness, and
//!   only silence on both counts as unreachable.
//!
//! Anything else `nc` says (another `nc` that does not know `-e`, a missing applet) is
//! reported as unclear, never as an answer or its absence.
//!
//! The probe is auto-removed by the engine when its script ends (so even a killed
//! `verify` leaves nothing for long), and carries the scope's ownership labels with
//! `io.netfence.role=probe`, so `down` and `gc` find it if it is ever left behind.
//!
//! Nothing here sends traffic off the machine: TCP and ICMP go only to addresses the
//! engine reports for its own containers, and a name that must *not* resolve is looked
//! up only from a namespace without a default route — elsewhere Docker's embedded DNS
//! would forward the unknown name to the host's resolvers, which may be anywhere.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::StreamExt;

use crate::engine::client::docker::{ApiResult, ContainerSpec};
use crate::engine::{Engine, EngineError, EngineResult};
use crate::labels;

/// How long one probe container may take before it is killed.
const PROBE_DEADLINE: Duration = Duration::from_secs(90);
/// Checks started at once inside one probe (each waits at most ~2 s per try).
const BATCH: usize = 8;
/// Tries for a check that must succeed: a loaded engine's DNS can miss one lookup.
const TRIES_POSITIVE: u32 = 3;

/// One check run from inside a container's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// `nslookup -type=a NAME.`: the IPv4 addresses it resolves to.
    Dns { name: String, must_resolve: bool },
    /// `nc -w2 IP PORT -e true`: connected or refused is an answer; silence is one only
    /// when a `ping` answers instead.
    Tcp {
        ip: IpAddr,
        port: u16,
        must_answer: bool,
    },
    /// `ping -c1 -W1 IP`, for targets without an exposed TCP port.
    Ping { ip: IpAddr, must_answer: bool },
}

/// What one check saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Resolved(Vec<IpAddr>),
    NotResolved,
    /// TCP connected, or a ping answered.
    Answered,
    /// TCP refused: the address is reachable, nothing listens on the port.
    Refused,
    /// TCP silent, but the address answered a ping.
    Pinged,
    /// Silence (TCP and ping both, for a TCP check).
    NoAnswer,
    /// The tool said something that is neither an answer nor silence.
    Unclear(String),
    /// Not run, and why.
    Skipped(String),
}

/// How long `nc` may take in all before the probe gives up on it: it gives up itself on
/// a silent address after two seconds.
const NC_LIMIT_SECS: u32 = 5;

/// Names handed to the shell must be plain DNS labels: nothing to quote, nothing to inject.
pub fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && !name.starts_with(['-', '.'])
}

/// The probe script: every check prints one line `NF <index> <status> <output…>`.
///
/// `isolated`: every network of the namespace is internal, so the engine drops anything a
/// forwarded lookup would send off the subnet; otherwise a lookup that must fail is made
/// only when the namespace has no default route.
pub fn script(checks: &[Check], isolated: bool) -> String {
    // `tcp N ID IP PORT`: up to N tries; a try ends at a connection or a refusal, else
    // asks `ping` once; prints `NF ID <nc status> icmp=<ping status or empty> <nc's words>`.
    let mut s = format!(
        "set -f\n\
         nofwd={}; ip route 2>/dev/null | grep -q '^default' || nofwd=1\n\
         limit() {{ if command -v timeout >/dev/null 2>&1; then timeout {NC_LIMIT_SECS} \"$@\"; else \"$@\"; fi; }}\n\
         try() {{ n=$1; id=$2; shift 2; i=0\n\
         while :; do out=$(\"$@\" 2>&1 </dev/null); rc=$?; i=$((i+1))\n\
         if [ $rc = 0 ] || [ $i -ge $n ]; then break; fi; sleep 1; done\n\
         echo \"NF $id $rc\" $out; }}\n\
         tcp() {{ n=$1; id=$2; i=0\n\
         while :; do out=$(limit nc -w2 $3 $4 -e true 2>&1 </dev/null); rc=$?; i=$((i+1)); icmp=\n\
         case \"$rc $out\" in '0 '*|*refused*) break;; esac\n\
         ping -c1 -W1 $3 >/dev/null 2>&1; icmp=$?\n\
         if [ $icmp = 0 ] || [ $i -ge $n ]; then break; fi; sleep 1; done\n\
         echo \"NF $id $rc icmp=$icmp\" $out; }}\n",
        u8::from(isolated)
    );
    for (i, c) in checks.iter().enumerate() {
        let line = match c {
            Check::Dns { name, must_resolve } if safe_name(name) => {
                if *must_resolve {
                    format!("try {TRIES_POSITIVE} {i} nslookup -type=a {name}. &\n")
                } else {
                    format!(
                        "if [ $nofwd = 1 ]; then try 1 {i} nslookup -type=a {name}.; else echo \"NF {i} skip\"; fi &\n"
                    )
                }
            }
            Check::Dns { .. } => format!("echo \"NF {i} badname\" &\n"),
            Check::Tcp {
                ip,
                port,
                must_answer,
            } => format!(
                "tcp {} {i} {ip} {port} &\n",
                if *must_answer { TRIES_POSITIVE } else { 1 }
            ),
            Check::Ping { ip, must_answer } => format!(
                "try {} {i} ping -c1 -W1 {ip} &\n",
                if *must_answer { TRIES_POSITIVE } else { 1 }
            ),
        };
        s.push_str(&line);
        if (i + 1) % BATCH == 0 {
            s.push_str("wait\n");
        }
    }
    s.push_str("wait\n");
    s
}

/// Reads the script's output back into one [`Seen`] per check (in order).
pub fn parse(checks: &[Check], output: &str) -> Vec<Seen> {
    let mut lines: HashMap<usize, (String, String)> = HashMap::new();
    for line in output.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("NF") {
            continue;
        }
        let (Some(Ok(i)), Some(status)) = (words.next().map(str::parse::<usize>), words.next())
        else {
            continue;
        };
        let rest: Vec<&str> = words.collect();
        lines.insert(i, (status.to_owned(), rest.join(" ")));
    }
    checks
        .iter()
        .enumerate()
        .map(|(i, c)| match lines.get(&i) {
            // Proves nothing either way, so it passes for nothing either.
            None => Seen::Unclear("the probe printed no result for it".into()),
            Some((status, _)) if status == "skip" => Seen::Skipped(
                "a name that must fail is looked up only from internal networks; elsewhere Docker forwards it off this machine".into(),
            ),
            Some((status, _)) if status == "badname" => {
                Seen::Skipped("not a plain DNS name".into())
            }
            Some((status, out)) => match c {
                Check::Dns { .. } => {
                    let ips = resolved(out);
                    if status == "0" && !ips.is_empty() {
                        Seen::Resolved(ips)
                    } else {
                        Seen::NotResolved
                    }
                }
                Check::Tcp { .. } => tcp_seen(status, out),
                Check::Ping { .. } if status == "0" => Seen::Answered,
                Check::Ping { .. } => Seen::NoAnswer,
            },
        })
        .collect()
}

/// A TCP check's line: `nc`'s exit status, then `icmp=<ping's status>` (empty when no
/// ping was needed), then what `nc` printed.
fn tcp_seen(status: &str, rest: &str) -> Seen {
    let (icmp, said) = match rest.split_once(' ') {
        Some((first, said)) if first.starts_with("icmp=") => (first, said),
        _ if rest.starts_with("icmp=") => (rest, ""),
        _ => ("icmp=", rest),
    };
    let said = said.trim();
    if status == "0" {
        return Seen::Answered;
    }
    if said.contains("Connection refused") {
        return Seen::Refused;
    }
    let silent = ["timed out", "No route to host", "unreachable"]
        .iter()
        .any(|w| said.contains(w));
    if !silent {
        return Seen::Unclear(if said.is_empty() {
            format!("nc exited {status} without a word (killed after {NC_LIMIT_SECS}s?)")
        } else {
            format!("nc: {said}")
        });
    }
    if icmp == "icmp=0" {
        Seen::Pinged
    } else {
        Seen::NoAnswer
    }
}

/// The addresses in busybox `nslookup` output, after the `Name:` line (the server's own
/// `Address: 127.0.0.11:53` comes before it and carries a port, so it never parses).
fn resolved(out: &str) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = out
        .split_whitespace()
        .skip_while(|w| *w != "Name:")
        .filter_map(|w| w.parse().ok())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// Runs `checks` from inside the namespace of `container` with `image`.
pub async fn run(
    engine: &Engine,
    image: &str,
    container: &str,
    owner_labels: &[(String, String)],
    checks: &[Check],
    isolated: bool,
) -> EngineResult<Vec<Seen>> {
    if checks.is_empty() {
        return Ok(Vec::new());
    }
    let mut probe_labels: HashMap<String, String> = owner_labels.iter().cloned().collect();
    probe_labels.insert(labels::ROLE.to_owned(), "probe".to_owned());
    probe_labels.insert(labels::CREATED.to_owned(), crate::engine::now_rfc3339());
    probe_labels.insert(
        labels::OWNER.to_owned(),
        crate::engine::host::owner::current(),
    );
    let spec = ContainerSpec {
        image: image.to_owned(),
        entrypoint: vec!["/bin/sh".into(), "-c".into()],
        cmd: vec![script(checks, isolated)],
        labels: probe_labels,
        network_mode: Some(format!("container:{container}")),
        auto_remove: true,
    };
    let id = engine
        .create_container(&spec)
        .await
        .map_err(|e| e.doing(format!("starting a probe ({image}) for {container}")))?;
    let result = attach_and_collect(engine, &id).await;
    if !matches!(result, Ok(Some(_))) {
        // Auto-remove covers a probe that ran; one that never started needs this.
        let _ = engine.remove_container(&id, false).await;
    }
    // Auto-removal runs after the output ends: wait for it, so a `down` right after
    // `verify` does not meet a probe that is still being removed.
    let _ = tokio::time::timeout(Duration::from_secs(15), engine.until_removed(&id)).await;
    let output = match result {
        Ok(Some(output)) => output,
        Ok(None) => {
            return Err(EngineError::other(format!(
                "probe ({image}) for {container}: no result within {}s",
                PROBE_DEADLINE.as_secs()
            )))
        }
        Err(e) => return Err(e.doing(format!("probe ({image}) for {container}"))),
    };
    Ok(parse(checks, &output))
}

/// The probe's output; none when it did not finish in time (it is removed then).
async fn attach_and_collect(engine: &Engine, id: &str) -> ApiResult<Option<String>> {
    let mut output = engine.attach(id).await?;
    engine.start_container(id).await?;
    let mut text = String::new();
    let read = async {
        while let Some(Ok(chunk)) = output.next().await {
            text.push_str(&chunk);
        }
    };
    if tokio::time::timeout(PROBE_DEADLINE, read).await.is_err() {
        let _ = engine.remove_container(id, false).await;
        return Ok(None);
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_output_is_read_back_per_check() {
        let checks = vec![
            Check::Dns {
                name: "web".into(),
                must_resolve: true,
            },
            Check::Dns {
                name: "other".into(),
                must_resolve: false,
            },
            Check::Tcp {
                ip: "10.0.0.2".parse().unwrap(),
                port: 80,
                must_answer: true,
            },
            Check::Ping {
                ip: "10.0.0.3".parse().unwrap(),
                must_answer: false,
            },
            Check::Dns {
                name: "a;rm -rf".into(),
                must_resolve: true,
            },
        ];
        let s = script(&checks, false);
        assert!(s.contains("nslookup -type=a web. &"));
        assert!(!s.contains("rm -rf"));
        let out = "NF 0 0 Server: 127.0.0.11 Address: 127.0.0.11:53 Non-authoritative answer: Name: web Address: 10.0.0.2\n\
                   NF 1 skip\nNF 2 0 icmp=\nNF 3 1 PING 10.0.0.3\nNF 4 badname\n";
        let seen = parse(&checks, out);
        assert_eq!(seen[0], Seen::Resolved(vec!["10.0.0.2".parse().unwrap()]));
        assert!(matches!(seen[1], Seen::Skipped(_)));
        assert_eq!(seen[2], Seen::Answered);
        assert_eq!(seen[3], Seen::NoAnswer);
        assert!(matches!(seen[4], Seen::Skipped(_)));
        assert_eq!(
            parse(&checks[..1], "NF 0 1 ** server can't find web: NXDOMAIN"),
            vec![Seen::NotResolved]
        );
    }

    /// busybox 1.35's `nc -w2 IP PORT -e true`, as measured on Docker 20.10: connected
    /// (exit 0, silent), refused at once, silent for two seconds.
    #[test]
    fn tcp_is_judged_by_what_the_attempt_met_and_silence_asks_ping() {
        let tcp = [Check::Tcp {
            ip: "10.0.0.2".parse().unwrap(),
            port: 5432,
            must_answer: true,
        }];
        let seen = |line: &str| parse(&tcp, line).remove(0);
        assert_eq!(seen("NF 0 0 icmp="), Seen::Answered);
        assert_eq!(
            seen("NF 0 1 icmp= nc: can't connect to remote host (10.0.0.2): Connection refused"),
            Seen::Refused
        );
        assert_eq!(seen("NF 0 1 icmp=1 nc: timed out"), Seen::NoAnswer);
        assert_eq!(seen("NF 0 1 icmp=0 nc: timed out"), Seen::Pinged);
        assert_eq!(
            seen("NF 0 1 icmp=1 nc: can't connect to remote host (10.0.0.2): No route to host"),
            Seen::NoAnswer
        );
        // Neither an answer nor silence: never judged as either.
        assert!(matches!(
            seen("NF 0 1 icmp=1 BusyBox v1.35.0 multi-call binary. Usage: nc [-iN] [-wN]"),
            Seen::Unclear(_)
        ));
        assert!(matches!(seen("NF 0 143 icmp=1"), Seen::Unclear(_)));
        // The script makes one `tcp` call per check, with tries only where it must answer.
        let s = script(&tcp, false);
        assert!(s.contains("tcp 3 0 10.0.0.2 5432 &"), "{s}");
        assert!(s.contains("nc -w2 $3 $4 -e true"), "{s}");
    }
}
