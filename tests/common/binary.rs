//! The netfence binary as a test drives it: arguments, standard input, environment and
//! working directory in; exit status, stdout and stderr out, with assertions that name
//! the command and show everything it printed when they fail.
//!
//! ```ignore
//! Netfence::new()
//!     .args(["rewrite", "--run-id", "t1", "-p", "demo"])
//!     .stdin(STACK)
//!     .run()
//!     .success()
//!     .stdout_has("name: nf-t1-demo");
//! ```
//!
//! Shared by the test binaries (`#[path]`): each uses only part of it.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One invocation of the netfence binary, built up and then run (or spawned).
pub struct Netfence {
    command: Command,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

impl Netfence {
    /// The binary with a clean environment for scope choice: none of the variables
    /// that pick a scope, a compose file or a project, and nothing on stdin.
    pub fn new() -> Netfence {
        Netfence::program(env!("CARGO_BIN_EXE_netfence"))
    }

    /// Another way in to the same binary: the `docker-netfence` plugin link, or
    /// `docker` itself (`docker netfence …`).
    pub fn program(program: impl AsRef<OsStr>) -> Netfence {
        let mut command = Command::new(program);
        command
            .env_remove("NETFENCE_RUN_ID")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME");
        Netfence {
            command,
            args: Vec::new(),
            stdin: None,
            timeout: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Netfence {
        self.args.push(arg.as_ref().to_string_lossy().into_owned());
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(self, args: I) -> Netfence
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        args.into_iter().fold(self, Netfence::arg)
    }

    /// Text fed to standard input (closed after it).
    pub fn stdin(mut self, text: impl Into<Vec<u8>>) -> Netfence {
        self.stdin = Some(text.into());
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Netfence {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Netfence {
        self.command.env_remove(key);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Netfence {
        self.command.current_dir(dir);
        self
    }

    /// Kills the process and fails the test when it runs longer than `limit`.
    pub fn timeout(mut self, limit: Duration) -> Netfence {
        self.timeout = Some(limit);
        self
    }

    /// Runs the binary to its end.
    pub fn run(self) -> Outcome {
        match self.timeout {
            None => self.spawn().wait(),
            Some(limit) => self.spawn().wait_at_most(limit),
        }
    }

    /// Starts the binary with stdout and stderr piped; [`Running::wait`] collects them.
    pub fn spawn(mut self) -> Running {
        let line = self.args.join(" ");
        self.command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start netfence {line}: {e}"));
        // Written from a thread: netfence may print before it has read all of it.
        let writer = child.stdin.take().map(|mut pipe| {
            let text = self.stdin.take().unwrap_or_default();
            // It may also exit without reading it all: its status says why.
            std::thread::spawn(move || drop(pipe.write_all(&text)))
        });
        Running {
            child,
            line,
            writer,
        }
    }
}

impl Default for Netfence {
    fn default() -> Netfence {
        Netfence::new()
    }
}

/// A netfence process that was spawned and not yet waited for.
pub struct Running {
    child: Child,
    line: String,
    writer: Option<JoinHandle<()>>,
}

impl Running {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Its stdout pipe, to read from while it runs (the outcome's stdout is then empty).
    pub fn take_stdout(&mut self) -> ChildStdout {
        self.child.stdout.take().expect("stdout is piped")
    }

    pub fn wait(self) -> Outcome {
        let Running {
            child,
            line,
            writer,
        } = self;
        let output = child.wait_with_output().expect("waiting for netfence");
        finish(line, writer, output)
    }

    /// [`Running::wait`], but kills the process and panics after `limit`.
    pub fn wait_at_most(self, limit: Duration) -> Outcome {
        fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = r.read_to_end(&mut bytes);
                bytes
            })
        }
        let Running {
            mut child,
            line,
            writer,
        } = self;
        let stdout = drain(child.stdout.take().expect("stdout is piped"));
        let stderr = drain(child.stderr.take().expect("stderr is piped"));
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for netfence") {
                break status;
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("netfence {line}: still running after {limit:?}; killed");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let output = Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        };
        finish(line, writer, output)
    }
}

fn finish(line: String, writer: Option<JoinHandle<()>>, output: Output) -> Outcome {
    if let Some(w) = writer {
        let _ = w.join();
    }
    Outcome { line, output }
}

/// What a finished netfence process left: its status and output. The assertions return
/// `&Self`, so that they chain; each failure message shows the whole outcome.
pub struct Outcome {
    line: String,
    output: Output,
}

impl Outcome {
    pub fn status(&self) -> ExitStatus {
        self.output.status
    }

    /// Standard output, which must be UTF-8.
    #[track_caller]
    pub fn stdout(&self) -> String {
        match String::from_utf8(self.output.stdout.clone()) {
            Ok(text) => text,
            Err(e) => panic!("netfence {}: stdout is not UTF-8: {e}", self.line),
        }
    }

    /// Standard error (invalid UTF-8 replaced: it may hold a child's output).
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Standard output parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        match serde_json::from_slice(&self.output.stdout) {
            Ok(v) => v,
            Err(e) => panic!("netfence {}: stdout is not JSON: {e}\n{self}", self.line),
        }
    }

    /// Exit status 0.
    #[track_caller]
    pub fn success(&self) -> &Outcome {
        self.code(0)
    }

    #[track_caller]
    pub fn code(&self, want: i32) -> &Outcome {
        assert_eq!(
            self.output.status.code(),
            Some(want),
            "netfence {}: exit status\n{self}",
            self.line
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, part: &str) -> &Outcome {
        assert!(
            self.stdout().contains(part),
            "netfence {}: stdout lacks {part:?}\n{self}",
            self.line
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, part: &str) -> &Outcome {
        assert!(
            !self.stdout().contains(part),
            "netfence {}: stdout has {part:?}\n{self}",
            self.line
        );
        self
    }

    #[track_caller]
    pub fn stdout_is(&self, all: &str) -> &Outcome {
        assert_eq!(self.stdout(), all, "netfence {}: stdout\n{self}", self.line);
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, part: &str) -> &Outcome {
        assert!(
            self.stderr().contains(part),
            "netfence {}: stderr lacks {part:?}\n{self}",
            self.line
        );
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, part: &str) -> &Outcome {
        assert!(
            !self.stderr().contains(part),
            "netfence {}: stderr has {part:?}\n{self}",
            self.line
        );
        self
    }

    #[track_caller]
    pub fn stderr_is(&self, all: &str) -> &Outcome {
        assert_eq!(self.stderr(), all, "netfence {}: stderr\n{self}", self.line);
        self
    }

    /// Stderr has a match of the regular expression `pattern`.
    #[track_caller]
    pub fn stderr_matches(&self, pattern: &str) -> &Outcome {
        let re = regex::Regex::new(pattern).expect("a valid regular expression");
        assert!(
            re.is_match(&self.stderr()),
            "netfence {}: stderr does not match /{pattern}/\n{self}",
            self.line
        );
        self
    }
}

/// Status, stdout and stderr, for failure messages.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.output.status.code(),
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }
}
