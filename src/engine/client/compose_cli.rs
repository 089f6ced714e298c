//! Invoking Docker Compose: the v2 CLI plugin (`docker compose`), else the standalone
//! `docker-compose`. `NETFENCE_COMPOSE` overrides the choice (e.g. `docker-compose`).
//! Every Compose command is told the Docker context netfence resolved, so both talk to
//! one engine.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use crate::engine::{EngineError, EngineResult};

#[derive(Debug, Clone)]
pub struct Compose {
    program: Vec<String>,
    /// `DOCKER_CONTEXT` for Compose: the context netfence itself uses.
    context: Option<(&'static str, String)>,
}

/// What a finished Compose command said.
#[derive(Debug)]
pub struct Output {
    pub success: bool,
    /// Its exit code (none when a signal ended it).
    pub status: Option<i32>,
    pub text: String,
}

impl Compose {
    /// Finds a working Compose v2: `docker compose`, else `docker-compose`.
    pub async fn detect() -> EngineResult<Compose> {
        let context = crate::engine::endpoint().ok().map(|e| {
            let (k, v) = e.child_env();
            (k, v.to_owned())
        });
        let program = Self::program().await?;
        Ok(Compose { program, context })
    }

    async fn program() -> EngineResult<Vec<String>> {
        if let Ok(custom) = std::env::var("NETFENCE_COMPOSE") {
            let program: Vec<String> = custom.split_whitespace().map(str::to_owned).collect();
            if !program.is_empty() {
                return Ok(program);
            }
        }
        // Looking for the plugin file first saves a `docker compose version` (~0.1 s)
        // on every run.
        if plugin_installed() {
            return Ok(vec!["docker".into(), "compose".into()]);
        }
        for candidate in [&["docker", "compose"][..], &["docker-compose"][..]] {
            let ok = Command::new(candidate[0])
                .args(&candidate[1..])
                .arg("version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(candidate.iter().map(|s| s.to_string()).collect());
            }
        }
        Err(EngineError::Compose {
            command: String::new(),
            status: None,
            message: "Docker Compose not found: neither `docker compose` (the v2 plugin) nor `docker-compose` runs".into(),
        })
    }

    /// The variable that names netfence's Docker context, for other children too.
    pub fn context_env(&self) -> Option<(&'static str, &str)> {
        self.context.as_ref().map(|(k, v)| (*k, v.as_str()))
    }

    pub fn display(&self) -> String {
        self.program.join(" ")
    }

    /// The error of Compose's `what` (`up`, `config`): `status` is its exit code when it
    /// exited, `message` all that netfence says about it.
    pub fn failed(&self, what: &str, status: Option<i32>, message: String) -> EngineError {
        EngineError::Compose {
            command: format!("{} {what}", self.display()),
            status,
            message,
        }
    }

    /// A Compose command for one project. It runs in its own process group, so that a
    /// Ctrl-C at the terminal reaches netfence (which decides what to stop) and not a
    /// tear-down half way through.
    ///
    /// `files` are given in order (none: Compose finds its own). `project_dir` is the
    /// input's directory: Compose resolves every relative path of the files (build
    /// contexts, bind mounts, `env_file`, `include`, `extends`) against it, and reads
    /// `.env` there, so the fenced file may live anywhere. `profiles` are the active
    /// profiles, given as `--profile` whatever the environment says (see
    /// [`crate::profiles`]), so that Compose starts the services netfence waits for.
    pub fn command(
        &self,
        files: &[PathBuf],
        project_dir: &Path,
        project: &str,
        profiles: &[String],
    ) -> Command {
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..]);
        if let Some((k, v)) = &self.context {
            cmd.env(k, v);
        }
        for f in files {
            cmd.arg("-f").arg(f);
        }
        cmd.arg("--project-directory")
            .arg(project_dir)
            .arg("-p")
            .arg(project);
        for p in profiles {
            cmd.arg("--profile").arg(p);
        }
        cmd.stdin(Stdio::null()).process_group(0).kill_on_drop(true);
        cmd
    }

    /// Runs a Compose command, collecting its output (stdout and stderr interleaved in
    /// arrival order is not needed: Compose reports progress and errors on stderr).
    pub async fn run(&self, mut cmd: Command, what: &str) -> EngineResult<Output> {
        let out = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|e| {
                let message = format!("running {} {what}: {e}", self.display());
                self.failed(what, None, message)
            })?;
        let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        Ok(Output {
            success: out.status.success(),
            status: out.status.code(),
            text,
        })
    }
}

/// Is the Compose v2 CLI plugin in one of the directories the docker CLI searches?
fn plugin_installed() -> bool {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Ok(cfg) = std::env::var("DOCKER_CONFIG") {
        dirs.push(PathBuf::from(cfg).join("cli-plugins"));
    }
    if let Ok(home) = std::env::var("HOME") {
        dirs.push(PathBuf::from(home).join(".docker/cli-plugins"));
    }
    for d in [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs.iter().any(|d| d.join("docker-compose").is_file())
}
