//! A unix socket that relays to the engine's, and can cut every connection through it
//! or refuse new ones: an engine that goes away and comes back, for one process (its
//! `DOCKER_HOST`), without touching the engine every other test shares.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Where the real engine listens (the tests run against the local default).
const ENGINE_SOCKET: &str = "/var/run/docker.sock";

pub struct Relay {
    dir: tempfile::TempDir,
    open: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<UnixStream>>>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    pub fn start() -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let relay = Relay {
            dir,
            open: Arc::new(AtomicBool::new(true)),
            streams: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (open, streams, stop) = (
            relay.open.clone(),
            relay.streams.clone(),
            relay.stop.clone(),
        );
        thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                // Checked and registered under the lock `cut` takes: a connection
                // accepted while the engine "goes away" is either cut or refused, never
                // left relaying.
                let mut registered = streams.lock().unwrap();
                if !open.load(Ordering::SeqCst) {
                    // The engine is "down": the connection is refused at once.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(engine) = UnixStream::connect(ENGINE_SOCKET) else {
                    continue;
                };
                if let (Ok(c), Ok(e)) = (client.try_clone(), engine.try_clone()) {
                    registered.extend([c, e]);
                }
                drop(registered);
                pipe(client.try_clone().unwrap(), engine.try_clone().unwrap());
                pipe(engine, client);
            }
        });
        relay
    }

    /// `DOCKER_HOST` for the process that should go through the relay.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.path().display())
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// Cuts every connection through the relay (event streams end mid-way).
    pub fn cut(&self) {
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Refuses new connections (`false`) or relays them again (`true`).
    pub fn set_open(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
        // Wakes the accept loop so that it sees `stop`.
        let _ = UnixStream::connect(self.path());
    }
}

fn pipe(mut from: UnixStream, mut to: UnixStream) {
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// Is `path` a socket something listens on?
pub fn listening(path: &Path) -> bool {
    UnixStream::connect(path).is_ok()
}
