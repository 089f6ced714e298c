//! Does a published port answer from this host? What `--wait ports` waits for.
//!
//! A connection being accepted is not enough: with Docker's userland proxy (the default)
//! the proxy itself listens on the host port and accepts every connection, then closes it
//! at once when nothing listens inside the container. Measured on Docker 20.10: before
//! the service listens, connect succeeds and the first read is end-of-file; once it
//! listens, the read yields the service's greeting or nothing for as long as the
//! connection is held. So a port answers when the connection is accepted and then either
//! brings a byte or stays open for [`HOLD`]. A service that accepts and hangs up without
//! a byte is taken for a proxy with nothing behind it (it never counts as ready).

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::engine::client::docker::Binding;
use crate::engine::stacks::wait::{State, States};
use crate::engine::Engine;

/// How long a connection attempt may take.
const CONNECT: Duration = Duration::from_secs(1);
/// How long an accepted connection must stay open (without a byte) to count: the proxy
/// hangs up within a millisecond or so when nothing listens behind it.
const HOLD: Duration = Duration::from_millis(300);

/// A published TCP port that did not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedPort {
    pub service: String,
    /// The container's id.
    pub container: String,
    pub container_port: u16,
    /// Where it was tried: `127.0.0.1:32771`.
    pub address: String,
}

impl fmt::Display for ClosedPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "service `{}` port {}/tcp (host {}) did not accept a connection",
            self.service, self.container_port, self.address
        )
    }
}

/// The published TCP ports of the ready containers in `states` that do not answer yet.
/// A container that cannot be inspected (it went away) has none: the next look judges
/// it.
pub async fn closed_ports(engine: &Engine, states: &States) -> Vec<ClosedPort> {
    let ready = states.iter().filter(|(_, (_, s))| *s == State::Ready);
    let inspected = join_all(ready.map(|(id, (svc, _))| async move {
        let published = match engine.inspect_container(id).await {
            Ok(c) if c.running => c.published,
            _ => Vec::new(),
        };
        (svc, id, published)
    }))
    .await;
    let mut wanted = Vec::new();
    for (svc, id, published) in inspected {
        let mut seen = BTreeSet::new();
        for b in published.iter().filter(|b| b.protocol == "tcp") {
            let address = address(b);
            if seen.insert(address.clone()) {
                wanted.push(ClosedPort {
                    service: svc.clone(),
                    container: id.clone(),
                    container_port: b.container_port,
                    address,
                });
            }
        }
    }
    let answers = join_all(wanted.iter().map(|p| answers(&p.address))).await;
    wanted
        .into_iter()
        .zip(answers)
        .filter(|(_, ok)| !ok)
        .map(|(p, _)| p)
        .collect()
}

/// Where to connect for a binding: a wildcard one (`0.0.0.0`, `::`) on loopback, as the
/// `NETFENCE_<SERVICE>_<PORT>` variables say.
fn address(b: &Binding) -> String {
    match b.host_ip.as_str() {
        "" | "0.0.0.0" | "::" => format!("127.0.0.1:{}", b.host_port),
        ip if ip.contains(':') => format!("[{ip}]:{}", b.host_port),
        ip => format!("{ip}:{}", b.host_port),
    }
}

/// Does something listen behind `address` (see the module's comment)?
async fn answers(address: &str) -> bool {
    let Ok(Ok(mut stream)) = tokio::time::timeout(CONNECT, TcpStream::connect(address)).await
    else {
        return false;
    };
    let mut byte = [0u8; 1];
    match tokio::time::timeout(HOLD, stream.read(&mut byte)).await {
        // Held open without a word: a service waiting for its client to speak.
        Err(_) => true,
        Ok(Ok(n)) => n > 0,
        Ok(Err(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    fn binding(host_ip: &str, host_port: u16) -> Binding {
        Binding {
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: host_ip.into(),
            host_port,
        }
    }

    #[test]
    fn wildcards_are_tried_on_loopback() {
        assert_eq!(address(&binding("0.0.0.0", 5)), "127.0.0.1:5");
        assert_eq!(address(&binding("::", 5)), "127.0.0.1:5");
        assert_eq!(address(&binding("", 5)), "127.0.0.1:5");
        assert_eq!(address(&binding("127.0.0.2", 5)), "127.0.0.2:5");
        assert_eq!(address(&binding("::1", 5)), "[::1]:5");
    }

    #[test]
    fn a_listener_answers_and_a_hang_up_or_nothing_does_not() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Holds the connection without a word, like a server waiting for a request.
        let quiet = TcpListener::bind("127.0.0.1:0").unwrap();
        let quiet_addr = quiet.local_addr().unwrap().to_string();
        // Says hello and hangs up.
        let greeter = TcpListener::bind("127.0.0.1:0").unwrap();
        let greeter_addr = greeter.local_addr().unwrap().to_string();
        // Accepts and hangs up at once: what the userland proxy does with nothing behind.
        let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy_addr = proxy.local_addr().unwrap().to_string();
        let held = std::thread::spawn(move || quiet.accept().map(|(s, _)| s));
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = greeter.accept() {
                let _ = s.write_all(b"hi\n");
            }
        });
        std::thread::spawn(move || drop(proxy.accept()));
        let nothing = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        assert!(rt.block_on(answers(&quiet_addr)));
        assert!(rt.block_on(answers(&greeter_addr)));
        assert!(!rt.block_on(answers(&proxy_addr)));
        assert!(!rt.block_on(answers(&nothing)));
        drop(held.join());
    }
}
