//! Which engine `docker` itself would talk to: the Docker context, resolved the way the
//! docker CLI resolves it (docker/cli `cli/command/cli.go`, `resolveContextName`):
//! `DOCKER_HOST` means the default context with that host; else `DOCKER_CONTEXT`; else
//! the CLI config's `currentContext`; else `default`. A named context is read from the
//! context store beside the config (`contexts/meta/<sha256(name)>/meta.json`, TLS
//! material in `contexts/tls/<sha256(name)>/docker/`).
//!
//! The resolution reads only the environment and files, so the docker CLI's global
//! options (`docker --context x netfence …`) reach it as the environment variables they
//! stand for; children (Compose, `run`'s command) then resolve the same engine too.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The context that is the environment and flags, not the store.
pub const DEFAULT_CONTEXT: &str = "default";
/// Where the default context points when `DOCKER_HOST` is not set.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";
/// The docker CLI's default for TLS without a host.
const DEFAULT_TLS_HOST: &str = "tcp://localhost:2376";

/// The variables the resolution reads, captured once: tests build them by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerEnv {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    pub docker_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
    /// `DOCKER_TLS`, `DOCKER_TLS_VERIFY` (non-empty means set, as docker reads them).
    pub tls: bool,
    pub tls_verify: bool,
    pub cert_path: Option<PathBuf>,
    /// `DOCKER_CLI_PLUGIN_USE_DIAL_STDIO`: docker's own switch for plugins to reach the
    /// engine through `docker system dial-stdio`.
    pub dial_stdio: bool,
}

impl DockerEnv {
    pub fn from_process() -> DockerEnv {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        DockerEnv {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            docker_config: var("DOCKER_CONFIG").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from).or_else(user_home),
            tls: var("DOCKER_TLS").is_some(),
            tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
            cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
            dial_stdio: var("DOCKER_CLI_PLUGIN_USE_DIAL_STDIO").is_some(),
        }
    }

    /// The CLI's configuration directory: `DOCKER_CONFIG`, else `~/.docker`.
    pub fn config_dir(&self) -> PathBuf {
        match (&self.docker_config, &self.home) {
            (Some(dir), _) => dir.clone(),
            (None, Some(home)) => home.join(".docker"),
            (None, None) => PathBuf::from(".docker"),
        }
    }
}

/// The account's home directory from the user database, when `HOME` is not set.
fn user_home() -> Option<PathBuf> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir)
}

/// Why this context was chosen, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen {
    DockerHost,
    DockerContext,
    /// `currentContext` of this config file (`docker context use`).
    CurrentContext(PathBuf),
    /// Nothing chose one.
    Default,
}

impl fmt::Display for Chosen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chosen::DockerHost => f.write_str("DOCKER_HOST is set"),
            Chosen::DockerContext => f.write_str("from DOCKER_CONTEXT or docker --context"),
            Chosen::CurrentContext(p) => write!(f, "currentContext of {}", p.display()),
            Chosen::Default => f.write_str("no context selected"),
        }
    }
}

/// TLS settings of an endpoint: files that exist, and whether to verify the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub skip_verify: bool,
}

/// How netfence reaches an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A unix socket, spoken to directly.
    Unix(String),
    /// Plain HTTP over TCP.
    Http(String),
    /// Through `docker system dial-stdio`: TLS, ssh and anything else the docker CLI
    /// speaks, with its own handling of certificates and keys.
    DockerCli,
}

/// The engine a Docker context points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub context: String,
    pub chosen: Chosen,
    pub host: String,
    pub tls: Option<Tls>,
    /// The context's `meta.json`; `None` for the default context.
    pub meta: Option<PathBuf>,
    dial_stdio: bool,
}

impl Endpoint {
    pub fn transport(&self) -> Transport {
        if self.dial_stdio {
            return Transport::DockerCli;
        }
        match self.host.split_once("://") {
            Some(("unix", path)) => Transport::Unix(format!("unix://{path}")),
            Some(("tcp" | "http", _)) if self.tls.is_none() => Transport::Http(self.host.clone()),
            _ => Transport::DockerCli,
        }
    }

    /// On this machine (a unix socket): then its containers' process ids are this host's.
    pub fn is_local(&self) -> bool {
        self.host.starts_with("unix://")
    }

    /// Where the engine is and why, for messages: `unix:///run/ci.sock of context "ci"
    /// (from DOCKER_CONTEXT or docker --context)`.
    pub fn describe(&self) -> String {
        let tls = if self.tls.is_some() { " (TLS)" } else { "" };
        match self.chosen {
            Chosen::DockerHost => format!("{}{tls} (from DOCKER_HOST)", self.host),
            Chosen::Default => format!("{}{tls} (DOCKER_HOST is not set)", self.host),
            _ => format!(
                "{}{tls} of context \"{}\" ({})",
                self.host, self.context, self.chosen
            ),
        }
    }
}

/// A context that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("Docker context \"{name}\" ({chosen}) does not exist: no {}; `docker context ls` lists the contexts, `docker context use default` goes back to the default", .meta.display())]
    NotFound {
        name: String,
        chosen: Chosen,
        meta: PathBuf,
    },
    #[error("Docker context \"{name}\" ({chosen}): {}: {message}", .path.display())]
    Unreadable {
        name: String,
        chosen: Chosen,
        path: PathBuf,
        message: String,
    },
    #[error("Docker context \"{name}\" ({chosen}) has no docker endpoint ({}); recreate it with `docker context create {name} --docker host=…`", .meta.display())]
    NoDockerEndpoint {
        name: String,
        chosen: Chosen,
        meta: PathBuf,
    },
}

/// The context `docker` would use, and where it points.
pub fn resolve(env: &DockerEnv) -> Result<Endpoint, ContextError> {
    let (name, chosen) = context_name(env);
    if name == DEFAULT_CONTEXT {
        return Ok(default_endpoint(env, chosen));
    }
    stored_endpoint(&env.config_dir().join("contexts"), name, chosen, env)
}

/// The same as `docker` with this environment: see the module comment for the order.
pub fn context_name(env: &DockerEnv) -> (String, Chosen) {
    if env.docker_host.is_some() {
        return (DEFAULT_CONTEXT.to_owned(), Chosen::DockerHost);
    }
    if let Some(name) = &env.docker_context {
        return (name.clone(), Chosen::DockerContext);
    }
    let config = env.config_dir().join("config.json");
    match current_context(&config) {
        Some(name) => (name, Chosen::CurrentContext(config)),
        None => (DEFAULT_CONTEXT.to_owned(), Chosen::Default),
    }
}

/// `currentContext` of the CLI config. The docker CLI warns about a config file it
/// cannot parse and goes on with the default context; so does netfence.
fn current_context(config: &Path) -> Option<String> {
    let text = match std::fs::read(config) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(
                "reading {}: {e}; using the default context",
                config.display()
            );
            return None;
        }
    };
    match serde_json::from_slice::<serde_json::Value>(&text) {
        Ok(v) => v
            .get("currentContext")
            .and_then(|c| c.as_str())
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        Err(e) => {
            tracing::warn!(
                "parsing {}: {e}; using the default context",
                config.display()
            );
            None
        }
    }
}

/// The default context: `DOCKER_HOST` (or the default socket) and the TLS variables.
fn default_endpoint(env: &DockerEnv, chosen: Chosen) -> Endpoint {
    let tls = (env.tls || env.tls_verify).then(|| {
        let dir = env.cert_path.clone().unwrap_or_else(|| env.config_dir());
        let existing = |f: &str| Some(dir.join(f)).filter(|p| p.is_file());
        Tls {
            ca: existing("ca.pem"),
            cert: existing("cert.pem"),
            key: existing("key.pem"),
            skip_verify: !env.tls_verify,
        }
    });
    let host = match &env.docker_host {
        Some(h) => normalise_host(h),
        None if tls.is_some() => DEFAULT_TLS_HOST.to_owned(),
        None => DEFAULT_HOST.to_owned(),
    };
    Endpoint {
        context: DEFAULT_CONTEXT.to_owned(),
        chosen,
        tls: tls.filter(|_| !is_socket(&host)),
        host,
        meta: None,
        dial_stdio: env.dial_stdio,
    }
}

/// A host without a scheme is TCP, as the docker CLI reads it.
fn normalise_host(host: &str) -> String {
    let host = host.trim();
    if host.contains("://") {
        host.to_owned()
    } else {
        format!("tcp://{host}")
    }
}

fn is_socket(host: &str) -> bool {
    matches!(
        host.split_once("://").map(|(s, _)| s),
        Some("unix" | "npipe" | "fd")
    )
}

/// The directory name of a context in the store: the hex SHA-256 of its name.
pub fn store_id(name: &str) -> String {
    Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn stored_endpoint(
    store: &Path,
    name: String,
    chosen: Chosen,
    env: &DockerEnv,
) -> Result<Endpoint, ContextError> {
    let id = store_id(&name);
    let meta = store.join("meta").join(&id).join("meta.json");
    let unreadable = |path: &Path, message: String| ContextError::Unreadable {
        name: name.clone(),
        chosen: chosen.clone(),
        path: path.to_owned(),
        message,
    };
    let text = match std::fs::read(&meta) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ContextError::NotFound { name, chosen, meta })
        }
        Err(e) => return Err(unreadable(&meta, e.to_string())),
    };
    let parsed: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| unreadable(&meta, format!("not JSON: {e}")))?;
    let docker = parsed.get("Endpoints").and_then(|e| e.get("docker"));
    let Some(host) = docker
        .and_then(|d| d.get("Host"))
        .and_then(|h| h.as_str())
        .filter(|h| !h.is_empty())
    else {
        return Err(ContextError::NoDockerEndpoint { name, chosen, meta });
    };
    let skip_verify = docker
        .and_then(|d| d.get("SkipTLSVerify"))
        .and_then(|s| s.as_bool())
        .unwrap_or(false);
    let host = normalise_host(host);
    let tls = store_tls(&store.join("tls").join(&id).join("docker"), skip_verify)
        .filter(|_| !is_socket(&host));
    Ok(Endpoint {
        context: name,
        chosen,
        host,
        tls,
        meta: Some(meta),
        dial_stdio: env.dial_stdio,
    })
}

/// A context's TLS material: any of `ca.pem`, `cert.pem`, `key.pem` present, or verification
/// skipped, means the engine speaks TLS (as docker/cli's `Endpoint.tlsConfig` decides).
fn store_tls(dir: &Path, skip_verify: bool) -> Option<Tls> {
    let existing = |f: &str| Some(dir.join(f)).filter(|p| p.is_file());
    let tls = Tls {
        ca: existing("ca.pem"),
        cert: existing("cert.pem"),
        key: existing("key.pem"),
        skip_verify,
    };
    let any = tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some() || skip_verify;
    any.then_some(tls)
}

impl Endpoint {
    /// The environment a child process needs to reach the same engine: the context by
    /// name (with `DOCKER_HOST` set that is `default`, and `DOCKER_HOST` still wins
    /// there), so a `docker compose` netfence starts never asks another engine.
    pub fn child_env(&self) -> (&'static str, &str) {
        ("DOCKER_CONTEXT", &self.context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_in(dir: &Path) -> DockerEnv {
        DockerEnv {
            docker_config: Some(dir.to_owned()),
            ..DockerEnv::default()
        }
    }

    fn store_context(dir: &Path, name: &str, meta: &str) -> PathBuf {
        let d = dir.join("contexts/meta").join(store_id(name));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("meta.json"), meta).unwrap();
        dir.join("contexts/tls").join(store_id(name)).join("docker")
    }

    fn meta(name: &str, host: &str) -> String {
        format!(
            r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
        )
    }

    #[test]
    fn the_store_id_is_the_names_sha256() {
        // What `docker context create other` makes.
        assert_eq!(
            store_id("other"),
            "d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa"
        );
    }

    #[test]
    fn nothing_set_is_the_default_socket() {
        let dir = tempfile::tempdir().unwrap();
        let ep = resolve(&env_in(dir.path())).unwrap();
        assert_eq!(ep.context, "default");
        assert_eq!(ep.chosen, Chosen::Default);
        assert_eq!(ep.transport(), Transport::Unix(DEFAULT_HOST.into()));
        assert!(ep.describe().contains("DOCKER_HOST is not set"));
    }

    #[test]
    fn docker_host_wins_over_docker_context_and_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"currentContext":"ci"}"#).unwrap();
        store_context(dir.path(), "ci", &meta("ci", "unix:///run/ci.sock"));
        let env = DockerEnv {
            docker_host: Some("tcp://10.0.0.1:2375".into()),
            docker_context: Some("ci".into()),
            ..env_in(dir.path())
        };
        let ep = resolve(&env).unwrap();
        assert_eq!(
            (ep.context.as_str(), &ep.chosen),
            ("default", &Chosen::DockerHost)
        );
        assert_eq!(
            ep.transport(),
            Transport::Http("tcp://10.0.0.1:2375".into())
        );
        assert_eq!(ep.describe(), "tcp://10.0.0.1:2375 (from DOCKER_HOST)");
    }

    #[test]
    fn docker_context_wins_over_the_configs_current_context() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"currentContext":"a"}"#).unwrap();
        store_context(dir.path(), "a", &meta("a", "unix:///run/a.sock"));
        store_context(dir.path(), "b", &meta("b", "unix:///run/b.sock"));
        let env = DockerEnv {
            docker_context: Some("b".into()),
            ..env_in(dir.path())
        };
        let ep = resolve(&env).unwrap();
        assert_eq!(ep.host, "unix:///run/b.sock");
        assert_eq!(
            ep.describe(),
            "unix:///run/b.sock of context \"b\" (from DOCKER_CONTEXT or docker --context)"
        );
    }

    #[test]
    fn the_configs_current_context_is_read_from_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(&config, r#"{"auths":{},"currentContext":"a"}"#).unwrap();
        store_context(dir.path(), "a", &meta("a", "unix:///run/a.sock"));
        let ep = resolve(&env_in(dir.path())).unwrap();
        assert_eq!(ep.chosen, Chosen::CurrentContext(config));
        assert_eq!(ep.transport(), Transport::Unix("unix:///run/a.sock".into()));
    }

    #[test]
    fn docker_context_default_is_the_default_context() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"currentContext":"a"}"#).unwrap();
        let env = DockerEnv {
            docker_context: Some("default".into()),
            ..env_in(dir.path())
        };
        assert_eq!(resolve(&env).unwrap().host, DEFAULT_HOST);
    }

    #[test]
    fn a_missing_context_names_itself_and_the_file_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let env = DockerEnv {
            docker_context: Some("nope".into()),
            ..env_in(dir.path())
        };
        let e = resolve(&env).unwrap_err().to_string();
        assert!(e.contains("\"nope\" (from DOCKER_CONTEXT"), "{e}");
        assert!(e.contains("does not exist"), "{e}");
        assert!(e.contains(&store_id("nope")), "{e}");
    }

    #[test]
    fn a_corrupt_config_is_a_warning_and_the_default_context() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), "{bad").unwrap();
        assert_eq!(
            resolve(&env_in(dir.path())).unwrap().chosen,
            Chosen::Default
        );
        std::fs::write(dir.path().join("config.json"), r#"{"currentContext":7}"#).unwrap();
        assert_eq!(
            resolve(&env_in(dir.path())).unwrap().chosen,
            Chosen::Default
        );
    }

    #[test]
    fn a_corrupt_meta_json_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let env = DockerEnv {
            docker_context: Some("x".into()),
            ..env_in(dir.path())
        };
        for (text, says) in [
            ("{not json", "not JSON"),
            (
                r#"{"Endpoints":{"docker":{"Host":5}}}"#,
                "no docker endpoint",
            ),
            ("[]", "no docker endpoint"),
        ] {
            store_context(dir.path(), "x", text);
            let e = resolve(&env).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains("meta.json"), "{e}");
        }
    }

    #[test]
    fn tls_material_of_a_context_is_found_and_needs_the_docker_cli() {
        let dir = tempfile::tempdir().unwrap();
        let tls = store_context(dir.path(), "r", &meta("r", "tcp://remote:2376"));
        std::fs::create_dir_all(&tls).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(tls.join(f), "pem").unwrap();
        }
        let env = DockerEnv {
            docker_context: Some("r".into()),
            ..env_in(dir.path())
        };
        let ep = resolve(&env).unwrap();
        let t = ep.tls.clone().unwrap();
        assert_eq!(t.ca, Some(tls.join("ca.pem")));
        assert_eq!(t.key, Some(tls.join("key.pem")));
        assert!(!t.skip_verify);
        assert_eq!(ep.transport(), Transport::DockerCli);
        assert!(ep
            .describe()
            .starts_with("tcp://remote:2376 (TLS) of context \"r\""));
    }

    #[test]
    fn ssh_and_skip_verify_go_through_the_docker_cli_plain_tcp_does_not() {
        let dir = tempfile::tempdir().unwrap();
        store_context(dir.path(), "s", &meta("s", "ssh://me@box"));
        store_context(
            dir.path(),
            "k",
            r#"{"Endpoints":{"docker":{"Host":"tcp://box:2376","SkipTLSVerify":true}}}"#,
        );
        store_context(dir.path(), "p", &meta("p", "box:2375"));
        let via = |name: &str| {
            let env = DockerEnv {
                docker_context: Some(name.into()),
                ..env_in(dir.path())
            };
            resolve(&env).unwrap().transport()
        };
        assert_eq!(via("s"), Transport::DockerCli);
        assert_eq!(via("k"), Transport::DockerCli);
        assert_eq!(via("p"), Transport::Http("tcp://box:2375".into()));
    }

    #[test]
    fn default_context_tls_follows_the_variables() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "pem").unwrap();
        let env = DockerEnv {
            docker_host: Some("tcp://box:2376".into()),
            tls_verify: true,
            cert_path: Some(dir.path().to_owned()),
            ..DockerEnv::default()
        };
        let ep = resolve(&env).unwrap();
        let t = ep.tls.clone().unwrap();
        assert_eq!(t.ca, Some(dir.path().join("ca.pem")));
        assert_eq!(t.cert, None);
        assert_eq!(ep.transport(), Transport::DockerCli);
        let no_host = DockerEnv {
            docker_host: None,
            ..env
        };
        assert_eq!(resolve(&no_host).unwrap().host, DEFAULT_TLS_HOST);
    }

    #[test]
    fn dial_stdio_is_docker_s_own_switch() {
        let env = DockerEnv {
            dial_stdio: true,
            ..DockerEnv::default()
        };
        assert_eq!(resolve(&env).unwrap().transport(), Transport::DockerCli);
    }

    #[test]
    fn config_dir_is_docker_config_else_home() {
        let env = DockerEnv {
            home: Some("/home/u".into()),
            ..DockerEnv::default()
        };
        assert_eq!(env.config_dir(), PathBuf::from("/home/u/.docker"));
        let env = DockerEnv {
            docker_config: Some("/cfg".into()),
            ..env
        };
        assert_eq!(env.config_dir(), PathBuf::from("/cfg"));
    }
}
