//! Ctrl-C and friends while `run` has things to clean up.
//!
//! netfence never dies of SIGINT/SIGTERM/SIGHUP while it owns a stack: the signals are
//! turned into messages on a watch channel, and each phase of `run` decides what they
//! mean (abort `up`, forward to CMD, or tell the user tear-down is still going). A
//! SIGINT typed at the terminal already reached CMD, which shares netfence's process
//! group; one sent to netfence alone (`kill -INT`) is forwarded.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use signal_hook::low_level::siginfo::Cause;
use tokio::sync::watch;

/// The latest signal and how many arrived in total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Received {
    pub count: u32,
    pub signal: i32,
    /// Sent by the kernel on behalf of the terminal (Ctrl-C): the whole foreground
    /// process group got it, CMD included.
    pub from_terminal: bool,
}

impl Received {
    pub fn name(&self) -> &'static str {
        match self.signal {
            SIGINT => "SIGINT",
            SIGTERM => "SIGTERM",
            SIGHUP => "SIGHUP",
            _ => "signal",
        }
    }
}

pub type Interrupts = watch::Receiver<Received>;

/// Installs the handlers (once per process) and returns a receiver of signals.
pub fn install() -> std::io::Result<Interrupts> {
    let (tx, rx) = watch::channel(Received::default());
    let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("netfence-signals".into())
        .spawn(move || {
            for (n, origin) in (&mut signals).into_iter().enumerate() {
                let _ = tx.send(Received {
                    count: n as u32 + 1,
                    signal: origin.signal,
                    from_terminal: matches!(origin.cause, Cause::Kernel),
                });
            }
        })?;
    Ok(rx)
}

/// Sends `signal` to a process.
pub fn send(pid: u32, signal: i32) {
    if let Ok(sig) = nix::sys::signal::Signal::try_from(signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
    }
}

/// Waits for the next signal after the ones already seen.
pub async fn next(rx: &mut Interrupts) -> Received {
    loop {
        if rx.changed().await.is_err() {
            // The sender lives as long as the process; treat a closed channel as "never".
            std::future::pending::<()>().await;
        }
        let r = *rx.borrow_and_update();
        if r.count > 0 {
            return r;
        }
    }
}
