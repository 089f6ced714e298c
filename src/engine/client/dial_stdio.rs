//! Reaching an engine through `docker system dial-stdio`: the docker CLI opens the
//! connection (TLS with the context's certificates, ssh, anything it speaks) and carries
//! the bytes over its standard input and output, as it does for its own plugins. netfence
//! then needs no TLS or ssh stack of its own, and reaches exactly the engine `docker`
//! would. Connections are pooled: one `docker` process per open connection, not per call.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bollard::{BollardRequest, ClientVersion, Docker};
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::engine::client::context::Endpoint;

/// The docker CLI to run: the one that started netfence as its plugin, else `docker`.
pub fn docker_program() -> String {
    std::env::var("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "docker".to_owned())
}

/// A bollard client whose every connection is a `docker system dial-stdio`.
pub fn connect(
    endpoint: &Endpoint,
    timeout_secs: u64,
    version: &ClientVersion,
) -> Result<Docker, bollard::errors::Error> {
    let dialer = Dialer {
        program: docker_program(),
        context: endpoint.context.clone(),
    };
    let client = Arc::new(Client::builder(TokioExecutor::new()).build(dialer));
    let transport = move |req: BollardRequest| {
        let client = Arc::clone(&client);
        async move { Ok(client.request(req).await?) }
    };
    Docker::connect_with_custom_transport(transport, Some("http://docker"), timeout_secs, version)
}

#[derive(Clone)]
struct Dialer {
    program: String,
    context: String,
}

impl Dialer {
    fn spawn(&self) -> io::Result<Stdio> {
        let mut child = Command::new(&self.program)
            .args(["system", "dial-stdio"])
            .env("DOCKER_CONTEXT", &self.context)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("running `{} system dial-stdio`: {e}", self.program),
                )
            })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(io::Error::other("dial-stdio: no pipes"));
        };
        Ok(Stdio {
            _child: child,
            stdin,
            stdout,
        })
    }
}

impl tower_service::Service<Uri> for Dialer {
    type Response = TokioIo<Stdio>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<Stdio>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let spawned = self.spawn().map(TokioIo::new);
        Box::pin(async move { spawned })
    }
}

/// One connection: the child's output is what the engine says, its input what we send.
struct Stdio {
    // Dropping the connection ends the process (kill_on_drop).
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl AsyncRead for Stdio {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stdio {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stdin).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_shutdown(cx)
    }
}

impl Connection for Stdio {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}
