//! The one way into the Docker engine: a connected [`Engine`] with typed queries and
//! actions that answer in netfence's own small types. bollard stays behind this file, so
//! the commands read as what they ask (a project's containers, a network's members), and
//! what they decide can be tested on values built by hand.
//!
//! Lists fail one way only, so they say what they were listing themselves. Everything
//! else returns the engine's answer as an [`ApiError`]: callers judge it (a 404 is often
//! "already done", an overlapping subnet means "try the next one") and name what they were
//! doing.

use std::collections::{BTreeMap, HashMap};

use bollard::container::LogOutput;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary as ListedContainer,
    EndpointIpamConfig, EndpointSettings, EventMessage, HostConfig, Ipam, IpamConfig, Network,
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, NetworkInspect,
};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, EventsOptionsBuilder,
    InspectContainerOptions, InspectNetworkOptions, ListContainersOptionsBuilder,
    ListNetworksOptions, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::stream::{BoxStream, StreamExt};
use ipnet::IpNet;

use crate::engine::client::context::Transport;
use crate::engine::{EngineError, EngineResult};
use crate::labels::compose;
use crate::plan::NetworkPlan;

/// Seconds a single engine call may take.
const TIMEOUT: u64 = 120;

/// A connected engine: the API version negotiated, reachability checked.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
}

/// What the engine said when a call failed: the HTTP status when it answered, and its
/// message. Some answers are told apart only by their words, on every engine netfence
/// supports: those are read here, once, so callers branch on what the answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: Option<u16>,
    message: String,
}

impl ApiError {
    /// The object is not there (already removed, or never was).
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }

    /// The engine holds an object of that name already (409): engines since 20.10 refuse
    /// a second network of one name where 20.10 made a duplicate.
    pub fn is_conflict(&self) -> bool {
        self.status == Some(409)
    }

    /// A connect of a container that is attached to that network already (the engine
    /// says its endpoint "already exists in network").
    pub fn is_already_attached(&self) -> bool {
        self.message.contains("already exists in network")
    }

    /// A disconnect of a container that is not attached to that network.
    pub fn is_not_attached(&self) -> bool {
        self.message.contains("is not connected")
    }

    /// A network that cannot be removed because the engine still counts endpoints on it.
    pub fn has_active_endpoints(&self) -> bool {
        self.message.contains("active endpoints")
    }

    /// A network refused because its subnet overlaps one the engine has.
    pub fn is_overlap(&self) -> bool {
        self.message.contains("overlaps")
    }

    /// The HTTP status, when the engine answered.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The engine's error for the caller: `doing` says what netfence was doing.
    pub fn doing(self, doing: impl Into<String>) -> EngineError {
        EngineError::Api {
            doing: doing.into(),
            status: self.status,
            message: self.message,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<bollard::errors::Error> for ApiError {
    /// The engine's own message without bollard's Debug noise.
    fn from(e: bollard::errors::Error) -> ApiError {
        match e {
            bollard::errors::Error::DockerResponseServerError {
                status_code,
                message,
            } => ApiError {
                status: Some(status_code),
                message,
            },
            other => ApiError {
                status: None,
                message: other.to_string(),
            },
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// An answer that may be "no such object": `None` then.
pub fn found<T>(r: ApiResult<T>) -> ApiResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// A removal (or disconnect) whose object is already gone is done.
pub fn done_if_gone(r: ApiResult<()>) -> ApiResult<()> {
    found(r).map(|_| ())
}

/// A container as a list shows it: enough to pick one and judge its state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSummary {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    /// `running`, `exited`, `created`, …
    pub state: String,
    /// The engine's words: `Up 3 seconds (healthy)`, `Exited (1) 2 seconds ago`.
    pub status: String,
    /// Seconds since the epoch.
    pub created: Option<i64>,
    /// `default`, a network's name, `host`, `none` or `container:<id>`: whose network
    /// namespace it runs in (the list shows this for every container, cheaply).
    pub network_mode: String,
}

/// A container inspected: where it is attached and what it publishes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    pub running: bool,
    pub exit_code: i64,
    /// The host's process id of its main process while running (0 otherwise).
    pub pid: i64,
    /// Network name → its endpoint there.
    pub networks: BTreeMap<String, Endpoint>,
    /// TCP ports its configuration exposes, ascending.
    pub tcp_ports: Vec<u16>,
    /// Host bindings of published ports.
    pub published: Vec<Binding>,
    /// What it shares with the host or with other containers.
    pub confinement: Confinement,
}

/// The parts of a container's host configuration that decide what it can reach beyond
/// its own networks: namespaces, privileges, capabilities and bind mounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confinement {
    /// `default`, a network's name, `host`, `none` or `container:<id>`.
    pub network_mode: String,
    /// `""` (its own), `host` or `container:<id>`; the same for the three below.
    pub pid_mode: String,
    /// `private`, `shareable`, `host`, `container:<id>`, …
    pub ipc_mode: String,
    pub uts_mode: String,
    pub userns_mode: String,
    pub privileged: bool,
    /// Capabilities added to Docker's default set, as written (`NET_ADMIN`, `CAP_SYS_ADMIN`).
    pub cap_add: Vec<String>,
    /// Bind mounts: host path → path in the container.
    pub binds: Vec<BindMount>,
}

/// A host path mounted into a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindMount {
    pub source: String,
    pub destination: String,
}

/// One attachment of a container to a network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoint {
    pub network_id: String,
    pub ip: Option<String>,
    pub ipv6: Option<String>,
    pub aliases: Vec<String>,
    /// The address the endpoint was connected with, when one was fixed.
    pub fixed: Option<FixedAddress>,
    /// Its priority among the container's networks (engines since 28; else 0).
    pub gw_priority: i64,
}

/// A static address asked for at connect time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixedAddress {
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub link_local: Vec<String>,
}

/// How to connect a container to a network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointConfig {
    pub aliases: Vec<String>,
    pub fixed: Option<FixedAddress>,
}

/// Which output of a container a log entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
    /// A container with a terminal (`tty: true`) has one stream.
    Tty,
}

impl LogStream {
    pub fn name(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
            LogStream::Tty => "tty",
        }
    }
}

/// A container's state as `--logs` records it, when the stack is about to go.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FinalState {
    pub name: String,
    pub id: String,
    pub service: String,
    /// Compose's number of the container within its service (1, 2, … with `scale`).
    pub number: Option<u32>,
    /// `running`, `exited`, `restarting`, `created`, `dead`, …
    pub status: String,
    pub exit_code: i64,
    /// `healthy`, `unhealthy` or `starting`; none without a healthcheck.
    pub health: Option<String>,
    pub restart_count: i64,
    pub oom_killed: bool,
    /// Why the engine could not start it, when it could not.
    pub error: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// A published port: container port and protocol, bound on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub container_port: u16,
    pub protocol: String,
    pub host_ip: String,
    pub host_port: u16,
}

/// Host ports one container publishes, or will publish again when it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortUse {
    pub container: String,
    pub labels: HashMap<String, String>,
    pub bindings: Vec<Binding>,
}

impl ContainerSummary {
    pub fn project(&self) -> Option<&str> {
        self.labels.get(compose::PROJECT).map(String::as_str)
    }

    pub fn service(&self) -> Option<&str> {
        self.labels.get(compose::SERVICE).map(String::as_str)
    }
}

impl Container {
    pub fn project(&self) -> Option<&str> {
        self.labels.get(compose::PROJECT).map(String::as_str)
    }

    pub fn service(&self) -> Option<&str> {
        self.labels.get(compose::SERVICE).map(String::as_str)
    }
}

/// A network on the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveNetwork {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub labels: HashMap<String, String>,
    /// The subnets of its address configuration, as the engine writes them.
    pub subnets: Vec<String>,
    /// The engine's creation time (Go's RFC 3339).
    pub created: Option<String>,
    /// Attached containers, id → name. Only an inspect fills this: lists leave it empty.
    pub containers: BTreeMap<String, String>,
    /// The bridge's interface name when the network sets one (`com.docker.network.bridge.name`).
    pub bridge_name: Option<String>,
    /// Its gateway modes, as its driver options set them.
    pub gateway_modes: GatewayModes,
}

/// A bridge network's gateway mode per address family
/// (`com.docker.network.bridge.gateway_mode_ipv4`, `…_ipv6`): `nat`, `nat-unprotected`,
/// `routed` or `isolated`; none when the option is not set (the engine's default, `nat`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayModes {
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
}

impl GatewayModes {
    fn of(options: Option<&HashMap<String, String>>) -> GatewayModes {
        let mode = |key: &str| {
            options
                .and_then(|o| o.get(key))
                .filter(|m| !m.is_empty())
                .cloned()
        };
        GatewayModes {
            ipv4: mode("com.docker.network.bridge.gateway_mode_ipv4"),
            ipv6: mode("com.docker.network.bridge.gateway_mode_ipv6"),
        }
    }
}

impl LiveNetwork {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// The host interface of a bridge network: its own name, else `br-` and the first
    /// twelve characters of its id, as the engine names it.
    pub fn bridge(&self) -> Option<String> {
        if self.driver != "bridge" {
            return None;
        }
        if let Some(b) = &self.bridge_name {
            return Some(b.clone());
        }
        self.id.get(..12).map(|id| format!("br-{id}"))
    }
}

/// A volume on the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub labels: HashMap<String, String>,
    pub created: Option<String>,
}

/// A container to create: for probes, which run one script and go.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub image: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub labels: HashMap<String, String>,
    /// `container:<id>` joins another container's network namespace.
    pub network_mode: Option<String>,
    /// The engine removes it when it ends.
    pub auto_remove: bool,
}

/// What `docker info` says that netfence reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineInfo {
    pub id: String,
    /// `20.10.24+dfsg1`.
    pub version: String,
    /// The engine host's name.
    pub name: String,
    /// `(base CIDR, size)` as the engine reports them; empty when it does not.
    pub default_address_pools: Vec<(String, u8)>,
    /// The firewall backend (`iptables`, `nftables`) where the engine says (28+).
    pub firewall: Option<String>,
}

impl EngineInfo {
    /// The major version (`28` of `28.5.2+dfsg4`).
    pub fn major(&self) -> Option<u32> {
        self.version.split('.').next().and_then(|m| m.parse().ok())
    }

    /// Does the engine ask a container's networks for a name in endpoint-priority order
    /// (Compose's `gw_priority`)? Docker 28 added it; older engines order by name alone.
    pub fn orders_names_by_priority(&self) -> bool {
        self.major().is_some_and(|m| m >= 28)
    }
}

/// One engine event (`docker events`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// `container`, `network`, …
    pub kind: String,
    /// `start`, `die`, `connect`, …
    pub action: String,
    /// The object's id.
    pub id: String,
    pub attributes: HashMap<String, String>,
    /// Seconds since the epoch.
    pub time: Option<i64>,
    /// Nanoseconds since the epoch (the engine's clock).
    pub time_nano: Option<i64>,
}

/// A `filters` map for list calls: each `label=value` pair must match.
fn label_filter(labels: &[String]) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), labels.to_vec())])
}

fn listing(what: &str) -> impl Fn(bollard::errors::Error) -> EngineError + '_ {
    move |e| ApiError::from(e).doing(format!("listing {what}"))
}

impl Engine {
    /// Connects to the engine `docker` would use (its context) and pings. An unreachable
    /// engine is one line naming the context and where it points.
    pub async fn connect() -> EngineResult<Engine> {
        let endpoint = crate::engine::endpoint().map_err(|e| EngineError::Unreachable {
            at: None,
            reason: e.to_string(),
        })?;
        let unreachable = |e: &dyn std::fmt::Display| EngineError::Unreachable {
            at: Some(endpoint.describe()),
            reason: e.to_string(),
        };
        let docker = match endpoint.transport() {
            Transport::Unix(host) => Docker::connect_with_unix(&host, TIMEOUT, API_DEFAULT_VERSION),
            Transport::Http(host) => Docker::connect_with_http(&host, TIMEOUT, API_DEFAULT_VERSION),
            Transport::DockerCli => {
                crate::engine::client::dial_stdio::connect(&endpoint, TIMEOUT, API_DEFAULT_VERSION)
            }
        }
        .map_err(|e| unreachable(&e))?;
        // Engines older than bollard's default API version answer "client version too
        // new" to everything: settle on the highest version both sides speak.
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| unreachable(&e))?;
        docker.ping().await.map_err(|e| unreachable(&e))?;
        Ok(Engine { docker })
    }

    /// The engine's own id (`docker info`'s ID): one engine reached at two addresses is
    /// still one engine. Empty when the engine does not say.
    pub async fn id(&self) -> EngineResult<String> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| ApiError::from(e).doing("reading the engine's info"))?;
        Ok(info.id.unwrap_or_default())
    }

    /// What the engine says about itself: version, and the default address pools it
    /// allocates networks from, when its info reports them (engines before Docker 27's
    /// API do not: empty then).
    pub async fn info(&self) -> EngineResult<EngineInfo> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| ApiError::from(e).doing("reading the engine's info"))?;
        let pools = info
            .default_address_pools
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| Some((p.base?, u8::try_from(p.size?).ok()?)))
            .collect();
        Ok(EngineInfo {
            id: info.id.unwrap_or_default(),
            version: info.server_version.unwrap_or_default(),
            name: info.name.unwrap_or_default(),
            default_address_pools: pools,
            firewall: info.firewall_backend.and_then(|f| f.driver),
        })
    }

    // ---- containers ------------------------------------------------------------------

    /// Containers carrying every `label=value` of `labels`; stopped ones too with `all`.
    pub async fn containers_labelled(
        &self,
        labels: &[String],
        all: bool,
    ) -> EngineResult<Vec<ContainerSummary>> {
        let opts = ListContainersOptionsBuilder::default()
            .all(all)
            .filters(&label_filter(labels))
            .build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(listing("containers"))?;
        Ok(list.into_iter().filter_map(summary).collect())
    }

    /// Every container on the engine (stopped ones too with `all`): one call, labels and
    /// network modes included.
    pub async fn containers(&self, all: bool) -> EngineResult<Vec<ContainerSummary>> {
        let opts = ListContainersOptionsBuilder::default().all(all).build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(listing("containers"))?;
        Ok(list.into_iter().filter_map(summary).collect())
    }

    /// The containers of a Compose project, by Compose's own label.
    pub async fn project_containers(
        &self,
        project: &str,
        all: bool,
    ) -> EngineResult<Vec<ContainerSummary>> {
        self.containers_labelled(&[format!("{}={project}", compose::PROJECT)], all)
            .await
    }

    pub async fn inspect_container(&self, id: &str) -> ApiResult<Container> {
        let c = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await?;
        Ok(container(c))
    }

    /// The host ports of every container on the engine: a running one's live bindings,
    /// a stopped one's configured bindings with a fixed host port (it takes that port
    /// again when it starts). Containers that go away meanwhile are left out.
    pub async fn port_uses(&self) -> EngineResult<Vec<PortUse>> {
        let opts = ListContainersOptionsBuilder::default().all(true).build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(listing("containers"))?;
        let mut out = Vec::new();
        for c in list {
            let Some(id) = c.id.clone() else { continue };
            let running = c.state.as_ref().map(|s| s.to_string()).as_deref() == Some("running");
            let bindings = if running {
                c.ports
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| {
                        Some(Binding {
                            container_port: p.private_port,
                            protocol: p
                                .typ
                                .map(|t| t.to_string())
                                .filter(|t| !t.is_empty())
                                .unwrap_or_else(|| "tcp".into()),
                            host_ip: p.ip.unwrap_or_default(),
                            host_port: p.public_port.filter(|&p| p != 0)?,
                        })
                    })
                    .collect()
            } else {
                match self
                    .docker
                    .inspect_container(&id, None::<InspectContainerOptions>)
                    .await
                {
                    Ok(i) => bindings(
                        i.host_config
                            .and_then(|h| h.port_bindings)
                            .unwrap_or_default(),
                    ),
                    Err(_) => continue,
                }
            };
            if bindings.is_empty() {
                continue;
            }
            out.push(PortUse {
                container: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or(id)
                    .trim_start_matches('/')
                    .to_owned(),
                labels: c.labels.unwrap_or_default(),
                bindings,
            });
        }
        Ok(out)
    }

    pub async fn create_container(&self, spec: &ContainerSpec) -> ApiResult<String> {
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: Some(spec.entrypoint.clone()),
            cmd: Some(spec.cmd.clone()),
            labels: Some(spec.labels.clone()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            host_config: Some(HostConfig {
                network_mode: spec.network_mode.clone(),
                auto_remove: Some(spec.auto_remove),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::default().build();
        Ok(self.docker.create_container(Some(opts), body).await?.id)
    }

    /// Attaches to a container's output (from its start, so nothing is missed): the
    /// text of each stdout or stderr chunk as it arrives.
    pub async fn attach(&self, id: &str) -> ApiResult<BoxStream<'static, ApiResult<String>>> {
        let opts = AttachContainerOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .stream(true)
            .logs(true)
            .build();
        let attached = self.docker.attach_container(id, Some(opts)).await?;
        Ok(attached
            .output
            .filter_map(|item| async move {
                match item {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::StdErr { message }) => {
                        Some(Ok(String::from_utf8_lossy(&message).into_owned()))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Err(e.into())),
                }
            })
            .boxed())
    }

    pub async fn start_container(&self, id: &str) -> ApiResult<()> {
        Ok(self.docker.start_container(id, None).await?)
    }

    /// Returns once the engine has removed the container (or the wait fails).
    pub async fn until_removed(&self, id: &str) {
        let opts = WaitContainerOptionsBuilder::default()
            .condition("removed")
            .build();
        let _ = self.docker.wait_container(id, Some(opts)).next().await;
    }

    /// Removes a container, running or not; with `volumes` its anonymous volumes too.
    pub async fn remove_container(&self, id: &str, volumes: bool) -> ApiResult<()> {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(volumes)
            .build();
        Ok(self.docker.remove_container(id, Some(opts)).await?)
    }

    /// The last `tail` lines of a container's output; what was read when the stream
    /// broke off.
    pub async fn logs(&self, id: &str, tail: &str) -> String {
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(tail)
            .build();
        let mut stream = self.docker.logs(id, Some(opts));
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        text
    }

    /// A container's whole log, with the engine's timestamps, in the order written:
    /// each entry is handed to `sink` with the stream it came from. An error ends it (a
    /// container gone meanwhile); what was read until then has been handed on.
    pub async fn whole_log(
        &self,
        id: &str,
        mut sink: impl FnMut(LogStream, &[u8]),
    ) -> ApiResult<()> {
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .tail("all")
            .build();
        let mut stream = self.docker.logs(id, Some(opts));
        while let Some(chunk) = stream.next().await {
            let (kind, bytes) = match chunk? {
                LogOutput::StdOut { message } => (LogStream::Stdout, message),
                LogOutput::StdErr { message } => (LogStream::Stderr, message),
                LogOutput::Console { message } => (LogStream::Tty, message),
                LogOutput::StdIn { .. } => continue,
            };
            sink(kind, &bytes);
        }
        Ok(())
    }

    /// How a container ended up: status, exit code, health, restarts.
    pub async fn final_state(&self, id: &str) -> ApiResult<FinalState> {
        let c = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await?;
        let state = c.state.unwrap_or_default();
        let labels = c.config.and_then(|c| c.labels).unwrap_or_default();
        Ok(FinalState {
            name: c
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            id: c.id.unwrap_or_default(),
            service: labels.get(compose::SERVICE).cloned().unwrap_or_default(),
            number: labels
                .get(compose::CONTAINER_NUMBER)
                .and_then(|n| n.parse().ok()),
            status: state.status.map(|s| s.to_string()).unwrap_or_default(),
            exit_code: state.exit_code.unwrap_or(0),
            health: state
                .health
                .and_then(|h| h.status)
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty() && s != "none"),
            restart_count: c.restart_count.unwrap_or(0),
            oom_killed: state.oom_killed.unwrap_or(false),
            error: state.error.filter(|e| !e.is_empty()),
            started_at: state.started_at.filter(|t| !t.starts_with("0001")),
            finished_at: state.finished_at.filter(|t| !t.starts_with("0001")),
        })
    }

    // ---- networks --------------------------------------------------------------------

    /// Every network on the engine (one call; labels and subnets included).
    pub async fn networks(&self) -> EngineResult<Vec<LiveNetwork>> {
        let list = self
            .docker
            .list_networks(None::<ListNetworksOptions>)
            .await
            .map_err(listing("networks"))?;
        Ok(list.into_iter().map(listed_network).collect())
    }

    /// Networks carrying every `label=value` of `labels`.
    pub async fn networks_labelled(&self, labels: &[String]) -> EngineResult<Vec<LiveNetwork>> {
        let opts = ListNetworksOptionsBuilder::default()
            .filters(&label_filter(labels))
            .build();
        let list = self
            .docker
            .list_networks(Some(opts))
            .await
            .map_err(listing("networks"))?;
        Ok(list.into_iter().map(listed_network).collect())
    }

    /// Ids of the networks with exactly this name (the engine allows several; its name
    /// filter matches substrings).
    pub async fn networks_named(&self, name: &str) -> EngineResult<Vec<String>> {
        let filters = HashMap::from([("name", vec![name])]);
        let opts = ListNetworksOptionsBuilder::default()
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_networks(Some(opts))
            .await
            .map_err(listing("networks"))?;
        Ok(list
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name))
            .filter_map(|n| n.id)
            .collect())
    }

    pub async fn inspect_network(&self, id_or_name: &str) -> ApiResult<LiveNetwork> {
        let n = self
            .docker
            .inspect_network(id_or_name, None::<InspectNetworkOptions>)
            .await?;
        Ok(inspected_network(n))
    }

    /// Creates a planned network with these subnets (one per address family) and
    /// labels; the new network's id.
    pub async fn create_network(
        &self,
        np: &NetworkPlan,
        subnets: &[IpNet],
        labels: HashMap<String, String>,
    ) -> ApiResult<String> {
        let req = create_request(np, subnets, labels);
        Ok(self.docker.create_network(req).await?.id)
    }

    pub async fn remove_network(&self, id_or_name: &str) -> ApiResult<()> {
        Ok(self.docker.remove_network(id_or_name).await?)
    }

    /// `docker network connect`.
    pub async fn connect_network(
        &self,
        network: &str,
        container: &str,
        endpoint: &EndpointConfig,
    ) -> ApiResult<()> {
        let req = NetworkConnectRequest {
            container: container.to_owned(),
            endpoint_config: Some(endpoint_settings(endpoint)),
        };
        Ok(self.docker.connect_network(network, req).await?)
    }

    /// `docker network disconnect` (`force` also for a container that is not running).
    pub async fn disconnect_network(
        &self,
        network: &str,
        container: &str,
        force: bool,
    ) -> ApiResult<()> {
        let req = NetworkDisconnectRequest {
            container: container.to_owned(),
            force: Some(force),
        };
        Ok(self.docker.disconnect_network(network, req).await?)
    }

    // ---- volumes and events ----------------------------------------------------------

    /// Volumes carrying every `label=value` of `labels`.
    pub async fn volumes_labelled(&self, labels: &[String]) -> EngineResult<Vec<Volume>> {
        let opts = ListVolumesOptionsBuilder::default()
            .filters(&label_filter(labels))
            .build();
        let list = self
            .docker
            .list_volumes(Some(opts))
            .await
            .map_err(listing("volumes"))?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| Volume {
                name: v.name,
                labels: v.labels,
                created: v.created_at,
            })
            .collect())
    }

    /// Removes a volume, even one a stopped container still names.
    pub async fn remove_volume(&self, name: &str) -> ApiResult<()> {
        let opts = RemoveVolumeOptionsBuilder::default().force(true).build();
        Ok(self.docker.remove_volume(name, Some(opts)).await?)
    }

    /// The engine's events from now on, matching `filters` (`type=container`,
    /// `label=k=v`, `event=start`, …; pairs of one key are alternatives). The stream
    /// ends when the connection does.
    pub fn events(&self, filters: &[(&str, &str)]) -> BoxStream<'static, ApiResult<Event>> {
        self.events_since(filters, None)
    }

    /// [`Engine::events`] from `since` (seconds since the epoch, with a fraction) on:
    /// the engine first replays what it still holds of the events since then, so a
    /// watcher that lists the engine after subscribing misses nothing in between.
    pub fn events_since(
        &self,
        filters: &[(&str, &str)],
        since: Option<f64>,
    ) -> BoxStream<'static, ApiResult<Event>> {
        let mut f: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in filters {
            f.entry((*k).to_owned()).or_default().push((*v).to_owned());
        }
        let mut opts = EventsOptionsBuilder::default().filters(&f);
        if let Some(t) = since {
            opts = opts.since(&format!("{t:.9}"));
        }
        let opts = opts.build();
        self.docker
            .events(Some(opts))
            .map(|m| m.map(event).map_err(ApiError::from))
            .boxed()
    }
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

fn summary(c: ListedContainer) -> Option<ContainerSummary> {
    Some(ContainerSummary {
        id: c.id?,
        name: c
            .names
            .and_then(|n| n.into_iter().next())
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        labels: c.labels.unwrap_or_default(),
        state: c.state.map(|s| s.to_string()).unwrap_or_default(),
        status: c.status.unwrap_or_default(),
        created: c.created,
        network_mode: c
            .host_config
            .and_then(|h| h.network_mode)
            .unwrap_or_default(),
    })
}

fn container(c: ContainerInspectResponse) -> Container {
    let config = c.config.unwrap_or_default();
    let mut tcp_ports: Vec<u16> = config
        .exposed_ports
        .unwrap_or_default()
        .iter()
        .filter_map(|p| match p.split_once('/') {
            Some((port, "tcp")) => port.parse().ok(),
            Some(_) => None,
            None => p.parse().ok(),
        })
        .collect();
    tcp_ports.sort();
    let state = c.state.unwrap_or_default();
    let settings = c.network_settings.unwrap_or_default();
    let confinement = confinement(c.host_config.unwrap_or_default(), c.mounts);
    Container {
        id: c.id.unwrap_or_default(),
        name: c
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        labels: config.labels.unwrap_or_default(),
        running: state.running.unwrap_or(false),
        exit_code: state.exit_code.unwrap_or(0),
        pid: state.pid.unwrap_or(0),
        networks: settings
            .networks
            .unwrap_or_default()
            .into_iter()
            .map(|(name, ep)| (name, endpoint(ep)))
            .collect(),
        tcp_ports,
        published: bindings(settings.ports.unwrap_or_default()),
        confinement,
    }
}

fn confinement(h: HostConfig, mounts: Option<Vec<bollard::models::MountPoint>>) -> Confinement {
    let binds = mounts
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.typ.as_deref() == Some("bind"))
        .map(|m| BindMount {
            source: m.source.unwrap_or_default(),
            destination: m.destination.unwrap_or_default(),
        })
        .collect();
    Confinement {
        network_mode: h.network_mode.unwrap_or_default(),
        pid_mode: h.pid_mode.unwrap_or_default(),
        ipc_mode: h.ipc_mode.unwrap_or_default(),
        uts_mode: h.uts_mode.unwrap_or_default(),
        userns_mode: h.userns_mode.unwrap_or_default(),
        privileged: h.privileged.unwrap_or(false),
        cap_add: h.cap_add.unwrap_or_default(),
        binds,
    }
}

fn endpoint(ep: EndpointSettings) -> Endpoint {
    let fixed = ep.ipam_config.and_then(|c| {
        let (ipv4, ipv6) = (nonempty(c.ipv4_address), nonempty(c.ipv6_address));
        (ipv4.is_some() || ipv6.is_some()).then(|| FixedAddress {
            ipv4,
            ipv6,
            link_local: c.link_local_ips.unwrap_or_default(),
        })
    });
    Endpoint {
        network_id: ep.network_id.unwrap_or_default(),
        ip: nonempty(ep.ip_address),
        ipv6: nonempty(ep.global_ipv6_address),
        aliases: ep.aliases.unwrap_or_default(),
        fixed,
        gw_priority: ep.gw_priority.unwrap_or(0),
    }
}

/// `80/tcp` → host bindings, read into numbers; what does not parse is left out.
fn bindings(ports: HashMap<String, Option<Vec<bollard::models::PortBinding>>>) -> Vec<Binding> {
    let mut out = Vec::new();
    for (key, bound) in ports {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(container_port) = port.parse::<u16>() else {
            continue;
        };
        for b in bound.unwrap_or_default() {
            let Some(host_port) = b.host_port.as_deref().and_then(|p| p.parse().ok()) else {
                continue;
            };
            out.push(Binding {
                container_port,
                protocol: proto.to_owned(),
                host_ip: b.host_ip.unwrap_or_default(),
                host_port,
            });
        }
    }
    out
}

fn subnets(ipam: Option<&Ipam>) -> Vec<String> {
    ipam.iter()
        .flat_map(|i| i.config.iter().flatten())
        .filter_map(|c| c.subnet.clone())
        .collect()
}

/// The bridge interface name a network's driver options set, if any.
fn bridge_name(options: Option<&HashMap<String, String>>) -> Option<String> {
    options?
        .get("com.docker.network.bridge.name")
        .filter(|b| !b.is_empty())
        .cloned()
}

fn listed_network(n: Network) -> LiveNetwork {
    LiveNetwork {
        subnets: subnets(n.ipam.as_ref()),
        id: n.id.unwrap_or_default(),
        name: n.name.unwrap_or_default(),
        driver: n.driver.unwrap_or_default(),
        internal: n.internal.unwrap_or(false),
        attachable: n.attachable.unwrap_or(false),
        enable_ipv6: n.enable_ipv6.unwrap_or(false),
        bridge_name: bridge_name(n.options.as_ref()),
        gateway_modes: GatewayModes::of(n.options.as_ref()),
        labels: n.labels.unwrap_or_default(),
        created: n.created,
        containers: BTreeMap::new(),
    }
}

fn inspected_network(n: NetworkInspect) -> LiveNetwork {
    LiveNetwork {
        subnets: subnets(n.ipam.as_ref()),
        id: n.id.unwrap_or_default(),
        name: n.name.unwrap_or_default(),
        driver: n.driver.unwrap_or_default(),
        internal: n.internal.unwrap_or(false),
        attachable: n.attachable.unwrap_or(false),
        enable_ipv6: n.enable_ipv6.unwrap_or(false),
        bridge_name: bridge_name(n.options.as_ref()),
        gateway_modes: GatewayModes::of(n.options.as_ref()),
        labels: n.labels.unwrap_or_default(),
        created: n.created,
        containers: n
            .containers
            .unwrap_or_default()
            .into_iter()
            .map(|(id, r)| (id, r.name.unwrap_or_default()))
            .collect(),
    }
}

fn endpoint_settings(e: &EndpointConfig) -> EndpointSettings {
    EndpointSettings {
        aliases: (!e.aliases.is_empty()).then(|| e.aliases.clone()),
        ipam_config: e.fixed.as_ref().map(|f| EndpointIpamConfig {
            ipv4_address: f.ipv4.clone(),
            ipv6_address: f.ipv6.clone(),
            link_local_ips: (!f.link_local.is_empty()).then(|| f.link_local.clone()),
        }),
        ..Default::default()
    }
}

fn event(m: EventMessage) -> Event {
    let actor = m.actor.unwrap_or_default();
    Event {
        kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
        action: m.action.unwrap_or_default(),
        id: actor.id.unwrap_or_default(),
        attributes: actor.attributes.unwrap_or_default(),
        time: m.time,
        time_nano: m.time_nano,
    }
}

/// The create request for a planned network: `run` and `ensure` create networks alike.
fn create_request(
    np: &NetworkPlan,
    subnets: &[IpNet],
    labels: HashMap<String, String>,
) -> NetworkCreateRequest {
    let ipam = (!subnets.is_empty()).then(|| Ipam {
        driver: Some("default".into()),
        config: Some(
            subnets
                .iter()
                .map(|s| IpamConfig {
                    subnet: Some(s.to_string()),
                    gateway: np.gateway.filter(|g| s.contains(g)).map(|g| g.to_string()),
                    ..Default::default()
                })
                .collect(),
        ),
        options: None,
    });
    NetworkCreateRequest {
        name: np.name.clone(),
        driver: Some(np.driver.clone().unwrap_or_else(|| "bridge".into())),
        internal: Some(np.internal),
        attachable: Some(np.attachable),
        enable_ipv6: np.enable_ipv6.then_some(true),
        ipam,
        options: (!np.driver_opts.is_empty()).then(|| np.driver_opts.clone().into_iter().collect()),
        labels: Some(labels),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status_code: u16, message: &str) -> ApiError {
        ApiError::from(bollard::errors::Error::DockerResponseServerError {
            status_code,
            message: message.into(),
        })
    }

    #[test]
    fn the_engines_answers_are_told_apart_by_status_then_by_their_words() {
        let taken = answer(409, "network with name nf-a already exists");
        assert!(taken.is_conflict() && !taken.is_not_found());
        // A second connect is refused with 403 on the engines netfence supports: only
        // the words say the container is attached already.
        let attached = answer(403, "endpoint with name web already exists in network nf-a");
        assert!(attached.is_already_attached() && !attached.is_conflict());
        assert!(answer(404, "No such container: x").is_not_found());
        assert!(answer(403, "container x is not connected to network nf-a").is_not_attached());
        assert!(answer(
            403,
            "error while removing network: network nf-a id 1 has active endpoints"
        )
        .has_active_endpoints());
        assert!(answer(403, "Pool overlaps with other one on this address space").is_overlap());

        let e = taken.doing("creating network nf-a");
        assert_eq!(
            e.to_string(),
            "creating network nf-a: network with name nf-a already exists"
        );
        assert_eq!(e.status(), Some(409));
    }
}
