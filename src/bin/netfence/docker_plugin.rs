//! `docker netfence`: the same binary as a Docker CLI plugin (docker/cli `cli-plugins`).
//!
//! Docker finds `docker-netfence` in its plugin directories, asks it for its metadata
//! (`docker-netfence docker-cli-plugin-metadata`), then runs it with its whole original
//! command line: `docker-netfence [docker's global options] netfence ARGS…`
//! (`docker help netfence` becomes `docker-netfence help netfence`). Docker's global
//! options choose the engine (`--context`, `--host`, `--config`, `--tls*`); they are
//! turned into the variables they stand for, so netfence, Compose and `run`'s command
//! all resolve the engine that docker itself would use.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The plugin's name: `docker netfence`.
pub const NAME: &str = "netfence";
/// The executable docker looks for in its plugin directories.
pub const EXECUTABLE: &str = "docker-netfence";
const METADATA_COMMAND: &str = "docker-cli-plugin-metadata";

/// What this process was asked to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Invocation {
    /// Print the plugin metadata for docker.
    Metadata,
    /// Run netfence with these arguments (program name first).
    Cli {
        args: Vec<OsString>,
        /// How help and errors name the program: `netfence` or `docker netfence`.
        bin_name: &'static str,
        /// Variables to set (`Some`) or remove (`None`) before anything else runs.
        env: Vec<(&'static str, Option<OsString>)>,
    },
}

/// Reads the command line: as `netfence …`, or as docker runs its plugin.
pub fn invocation(argv: Vec<OsString>) -> Result<Invocation, String> {
    let as_plugin = argv
        .first()
        .and_then(|p| Path::new(p).file_name())
        .is_some_and(|n| n == EXECUTABLE);
    if !as_plugin {
        return Ok(Invocation::Cli {
            args: argv,
            bin_name: NAME,
            env: Vec::new(),
        });
    }
    let mut rest = argv.into_iter().skip(1).peekable();
    if rest.peek().is_some_and(|a| a == METADATA_COMMAND) {
        return Ok(Invocation::Metadata);
    }
    let globals = Globals::parse(&mut rest)?;
    let mut args = vec![OsString::from(format!("docker {NAME}"))];
    let first = rest.next();
    match first.as_ref().and_then(|a| a.to_str()) {
        Some(NAME) => {}
        // `docker help netfence [COMMAND]`.
        Some("help") => {
            args.push("help".into());
            rest.next_if(|a| a == NAME);
        }
        // Run by hand, without the plugin name: the arguments are netfence's.
        _ => args.extend(first),
    }
    args.extend(rest);
    Ok(Invocation::Cli {
        args,
        bin_name: "docker netfence",
        env: globals.environment()?,
    })
}

/// The metadata docker reads before it lists or runs the plugin.
pub fn metadata() -> String {
    serde_json::json!({
        "SchemaVersion": "0.1.0",
        "Vendor": "netfence",
        "Version": env!("CARGO_PKG_VERSION"),
        "ShortDescription": env!("CARGO_PKG_DESCRIPTION"),
    })
    .to_string()
}

/// docker's global options, as given before the plugin's name.
#[derive(Debug, Default, PartialEq, Eq)]
struct Globals {
    context: Option<OsString>,
    host: Option<OsString>,
    config: Option<OsString>,
    tls: bool,
    tls_verify: Option<bool>,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl Globals {
    /// Takes options up to the first argument that is not one (docker/cli
    /// `cli/flags/options.go`); `-D` and `-l` are docker's logging and mean nothing here.
    fn parse<I: Iterator<Item = OsString>>(
        args: &mut std::iter::Peekable<I>,
    ) -> Result<Globals, String> {
        let mut g = Globals::default();
        while let Some(arg) = args.next_if(|a| a.to_str().is_some_and(|s| s.starts_with('-'))) {
            let arg = arg.to_string_lossy().into_owned();
            let (flag, inline) = split_flag(&arg);
            let mut value = || -> Result<OsString, String> {
                match &inline {
                    Some(v) => Ok(v.into()),
                    None => args
                        .next()
                        .ok_or_else(|| format!("docker option {flag} needs a value")),
                }
            };
            match flag {
                "-c" | "--context" => g.context = Some(value()?),
                "-H" | "--host" => g.host = Some(value()?),
                "--config" => g.config = Some(value()?),
                "--tlscacert" => g.ca = Some(value()?.into()),
                "--tlscert" => g.cert = Some(value()?.into()),
                "--tlskey" => g.key = Some(value()?.into()),
                "-l" | "--log-level" => {
                    value()?;
                }
                "--tls" => g.tls = inline.as_deref() != Some("false"),
                "--tlsverify" => g.tls_verify = Some(inline.as_deref() != Some("false")),
                "-D" | "--debug" => {}
                _ => return Err(format!("unknown docker option {flag}")),
            }
        }
        Ok(g)
    }

    /// The variables these options stand for, in docker's order of precedence:
    /// `--context` beats `DOCKER_HOST`, `--host` is the default context with that host.
    fn environment(&self) -> Result<Vec<(&'static str, Option<OsString>)>, String> {
        let mut env = Vec::new();
        match (&self.context, &self.host) {
            (Some(_), Some(_)) => {
                return Err("conflicting options: cannot specify both --host and --context".into())
            }
            (Some(c), None) => {
                env.push(("DOCKER_HOST", None));
                env.push(("DOCKER_CONTEXT", Some(c.clone())));
            }
            (None, Some(h)) => env.push(("DOCKER_HOST", Some(h.clone()))),
            (None, None) => {}
        }
        if let Some(c) = &self.config {
            env.push(("DOCKER_CONFIG", Some(c.clone())));
        }
        // As docker: `--tlsverify` given at all, even `=false`, turns TLS on.
        if self.tls || self.tls_verify.is_some() {
            env.push(("DOCKER_TLS", Some("1".into())));
        }
        match self.tls_verify {
            Some(true) => env.push(("DOCKER_TLS_VERIFY", Some("1".into()))),
            Some(false) => env.push(("DOCKER_TLS_VERIFY", None)),
            None => {}
        }
        if let Some(dir) = self.cert_dir()? {
            env.push(("DOCKER_CERT_PATH", Some(dir.into_os_string())));
        }
        Ok(env)
    }

    /// `--tlscacert`, `--tlscert`, `--tlskey` as one `DOCKER_CERT_PATH`: the variables
    /// can only say "this directory, the usual names".
    fn cert_dir(&self) -> Result<Option<PathBuf>, String> {
        let given = [
            (&self.ca, "ca.pem"),
            (&self.cert, "cert.pem"),
            (&self.key, "key.pem"),
        ];
        let mut dir: Option<PathBuf> = None;
        for (path, usual) in given {
            let Some(path) = path else { continue };
            let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let fits = path.file_name().is_some_and(|n| n == usual)
                && dir.as_ref().is_none_or(|d| *d == parent);
            if !fits {
                return Err(format!(
                    "netfence reads TLS files from one directory with the usual names (ca.pem, \
                     cert.pem, key.pem): use DOCKER_CERT_PATH=DIR instead of {}",
                    path.display()
                ));
            }
            dir = Some(parent);
        }
        Ok(dir)
    }
}

/// `--flag=value` into the flag and its value.
fn split_flag(arg: &str) -> (&str, Option<String>) {
    match arg.split_once('=') {
        Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
        _ if !arg.starts_with("--") && arg.len() > 2 => (&arg[..2], Some(arg[2..].to_owned())),
        _ => (arg, None),
    }
}

/// Watches docker's plugin socket (`DOCKER_CLI_PLUGIN_SOCKET`). When docker is stopped
/// by a signal that did not also reach netfence (no terminal), it closes the socket
/// instead of forwarding the signal; netfence takes that as its SIGTERM, so `run` still
/// tears down. A docker that dies closes the socket too.
pub fn watch_docker_cli() {
    let Some(address) = std::env::var_os("DOCKER_CLI_PLUGIN_SOCKET") else {
        return;
    };
    let Ok(mut socket) = connect(&address) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("docker-cli".into())
        .spawn(move || {
            use std::io::Read;
            let mut byte = [0u8; 1];
            loop {
                match socket.read(&mut byte) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM);
        });
}

/// docker listens on an abstract socket on Linux (`@docker_cli_…`), a path elsewhere.
fn connect(address: &std::ffi::OsStr) -> std::io::Result<std::os::unix::net::UnixStream> {
    use std::os::unix::net::UnixStream;
    #[cfg(target_os = "linux")]
    if let Some(name) = address.as_encoded_bytes().strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        return UnixStream::connect_addr(&addr);
    }
    UnixStream::connect(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(args: &[&str]) -> Result<Invocation, String> {
        let mut argv = vec![OsString::from("/x/cli-plugins/docker-netfence")];
        argv.extend(args.iter().map(OsString::from));
        invocation(argv)
    }

    fn cli(args: &[&str], env: &[(&'static str, Option<&str>)]) -> Invocation {
        Invocation::Cli {
            args: args.iter().map(OsString::from).collect(),
            bin_name: "docker netfence",
            env: env
                .iter()
                .map(|(k, v)| (*k, v.map(OsString::from)))
                .collect(),
        }
    }

    #[test]
    fn as_netfence_the_arguments_are_untouched() {
        let argv: Vec<OsString> = ["netfence", "--context", "x"].map(Into::into).to_vec();
        let Ok(Invocation::Cli {
            args,
            bin_name,
            env,
        }) = invocation(argv.clone())
        else {
            panic!()
        };
        assert_eq!((args, bin_name, env), (argv, "netfence", vec![]));
    }

    #[test]
    fn docker_runs_the_plugin_with_its_name_first() {
        assert_eq!(
            plugin(&["docker-cli-plugin-metadata"]),
            Ok(Invocation::Metadata)
        );
        assert_eq!(
            plugin(&["netfence", "run", "--", "true"]),
            Ok(cli(&["docker netfence", "run", "--", "true"], &[]))
        );
        assert_eq!(
            plugin(&["help", "netfence"]),
            Ok(cli(&["docker netfence", "help"], &[]))
        );
        assert_eq!(
            plugin(&["gc", "--dry-run"]),
            Ok(cli(&["docker netfence", "gc", "--dry-run"], &[]))
        );
    }

    #[test]
    fn docker_s_global_options_become_its_variables() {
        assert_eq!(
            plugin(&["--context", "ci", "-D", "netfence", "gc"]),
            Ok(cli(
                &["docker netfence", "gc"],
                &[("DOCKER_HOST", None), ("DOCKER_CONTEXT", Some("ci"))]
            ))
        );
        assert_eq!(
            plugin(&["-cci", "--config=/cfg", "-l", "debug", "netfence", "gc"]),
            Ok(cli(
                &["docker netfence", "gc"],
                &[
                    ("DOCKER_HOST", None),
                    ("DOCKER_CONTEXT", Some("ci")),
                    ("DOCKER_CONFIG", Some("/cfg"))
                ]
            ))
        );
        assert_eq!(
            plugin(&[
                "-H",
                "tcp://h:2376",
                "--tlsverify",
                "--tlscacert",
                "/c/ca.pem",
                "netfence"
            ]),
            Ok(cli(
                &["docker netfence"],
                &[
                    ("DOCKER_HOST", Some("tcp://h:2376")),
                    ("DOCKER_TLS", Some("1")),
                    ("DOCKER_TLS_VERIFY", Some("1")),
                    ("DOCKER_CERT_PATH", Some("/c"))
                ]
            ))
        );
        // `--tlsverify=false` still means TLS, without verification, as for docker.
        assert_eq!(
            plugin(&["-H", "tcp://h:2376", "--tlsverify=false", "netfence"]),
            Ok(cli(
                &["docker netfence"],
                &[
                    ("DOCKER_HOST", Some("tcp://h:2376")),
                    ("DOCKER_TLS", Some("1")),
                    ("DOCKER_TLS_VERIFY", None)
                ]
            ))
        );
    }

    #[test]
    fn options_docker_would_refuse_are_refused() {
        let e = plugin(&["--context", "a", "-H", "unix:///s", "netfence"]).unwrap_err();
        assert!(e.contains("both --host and --context"), "{e}");
        assert!(plugin(&["--bogus", "netfence"])
            .unwrap_err()
            .contains("--bogus"));
        assert!(plugin(&["--context"])
            .unwrap_err()
            .contains("needs a value"));
        let e = plugin(&["--tlscacert", "/a/my-ca.pem", "netfence"]).unwrap_err();
        assert!(e.contains("DOCKER_CERT_PATH"), "{e}");
    }

    #[test]
    fn metadata_is_what_docker_expects() {
        let m: serde_json::Value = serde_json::from_str(&metadata()).unwrap();
        assert_eq!(m["SchemaVersion"], "0.1.0");
        assert_eq!(m["Vendor"], "netfence");
        assert!(m["ShortDescription"]
            .as_str()
            .is_some_and(|d| !d.is_empty()));
    }
}
