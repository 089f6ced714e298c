//! `netfence graph`: the plan's topology as Mermaid or Graphviz DOT, and SVG/PNG through
//! Graphviz `dot` when it is installed. Services are boxes (public ones filled and bold,
//! `network_mode` ones dashed); networks are shaped by role (managed, internal, external,
//! proxy, shared, environment); a legend says which is which.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::yaml::Value;

use crate::plan::{NetworkPlan, Plan, Role, ServicePlan};
use crate::yaml::{scalar_string, untag};

/// The environment variable naming the Graphviz program (default `dot` on `$PATH`).
pub const DOT_ENV: &str = "NETFENCE_DOT";

/// How a node is drawn; one per kind, shared by the legend and the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Service,
    Public,
    NetworkMode,
    Managed,
    Internal,
    External,
    Proxy,
    Shared,
    Environment,
}

impl Kind {
    const ALL: [Kind; 9] = [
        Kind::Service,
        Kind::Public,
        Kind::NetworkMode,
        Kind::Managed,
        Kind::Internal,
        Kind::External,
        Kind::Proxy,
        Kind::Shared,
        Kind::Environment,
    ];

    fn class(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Public => "public",
            Kind::NetworkMode => "netmode",
            Kind::Managed => "managed",
            Kind::Internal => "internal",
            Kind::External => "external",
            Kind::Proxy => "proxy",
            Kind::Shared => "shared",
            Kind::Environment => "environment",
        }
    }

    fn legend(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Public => "public service (routed by the proxy)",
            Kind::NetworkMode => "service with network_mode (not fenced)",
            Kind::Managed => "network of the stack (fenced)",
            Kind::Internal => "internal network (no egress)",
            Kind::External => "external network (not fenced)",
            Kind::Proxy => "reverse proxy network",
            Kind::Shared => "shared network",
            Kind::Environment => "environment network",
        }
    }

    /// (fill, stroke)
    fn colours(self) -> (&'static str, &'static str) {
        match self {
            Kind::Service => ("#ffffff", "#334155"),
            Kind::Public => ("#fde68a", "#b45309"),
            Kind::NetworkMode => ("#f1f5f9", "#64748b"),
            Kind::Managed => ("#dbeafe", "#1d4ed8"),
            Kind::Internal => ("#e5e7eb", "#374151"),
            Kind::External => ("#f3e8ff", "#7e22ce"),
            Kind::Proxy => ("#fecaca", "#b91c1c"),
            Kind::Shared => ("#dcfce7", "#15803d"),
            Kind::Environment => ("#ccfbf1", "#0f766e"),
        }
    }

    fn dot_attrs(self) -> String {
        let (fill, stroke) = self.colours();
        let (shape, style, pen) = match self {
            Kind::Service => ("box", "rounded,filled", 1.0),
            Kind::Public => ("box", "rounded,filled,bold", 2.5),
            Kind::NetworkMode => ("box", "rounded,filled,dashed", 1.0),
            Kind::Managed => ("ellipse", "filled", 1.0),
            Kind::Internal => ("ellipse", "filled,dashed", 1.5),
            Kind::External => ("parallelogram", "filled", 1.0),
            Kind::Proxy => ("hexagon", "filled,bold", 2.0),
            Kind::Shared => ("octagon", "filled", 1.0),
            Kind::Environment => ("house", "filled", 1.0),
        };
        format!(
            "shape={shape}, style=\"{style}\", fillcolor=\"{fill}\", color=\"{stroke}\", penwidth={pen}"
        )
    }

    fn mermaid_class(self) -> String {
        let (fill, stroke) = self.colours();
        let extra = match self {
            Kind::Public => ",stroke-width:3px",
            Kind::Proxy => ",stroke-width:2px",
            Kind::Internal | Kind::NetworkMode => ",stroke-dasharray:5 5",
            _ => "",
        };
        format!(
            "classDef {} fill:{fill},stroke:{stroke},color:#0f172a{extra}",
            self.class()
        )
    }

    /// Opening and closing brackets of the Mermaid node shape.
    fn mermaid_shape(self) -> (&'static str, &'static str) {
        match self {
            Kind::Service | Kind::Public => ("[", "]"),
            Kind::NetworkMode => (">", "]"),
            Kind::Managed | Kind::Internal => ("([", "])"),
            Kind::External => ("[/", "/]"),
            Kind::Proxy => ("{{", "}}"),
            Kind::Shared => ("[[", "]]"),
            Kind::Environment => ("[\\", "/]"),
        }
    }
}

struct Node {
    id: String,
    kind: Kind,
    lines: Vec<String>,
}

struct Edge {
    from: String,
    to: String,
    label: Vec<String>,
    proxy: bool,
    /// `network_mode: service:X`: shares X's network namespace.
    shares: bool,
}

/// The topology of a plan, ready to print in either language.
pub struct Graph {
    title: String,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

fn network_kind(n: &NetworkPlan) -> Kind {
    match n.role {
        Role::Managed if n.internal => Kind::Internal,
        Role::Managed => Kind::Managed,
        Role::External => Kind::External,
        Role::Proxy => Kind::Proxy,
        Role::Shared => Kind::Shared,
        Role::Environment => Kind::Environment,
    }
}

/// `s_web`, `n_backend`: ids both languages accept, unique within the graph.
fn node_id(prefix: &str, name: &str, taken: &mut Vec<String>) -> String {
    let base: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut id = format!("{prefix}_{base}");
    let mut n = 2;
    while taken.contains(&id) {
        id = format!("{prefix}_{base}_{n}");
        n += 1;
    }
    taken.push(id.clone());
    id
}

/// The ports a service publishes after the plan, as short text.
fn ports_after(s: &ServicePlan, doc: &Value) -> Vec<String> {
    let Some(Value::Sequence(list)) = doc
        .get("services")
        .and_then(|v| untag(v).get(&s.name))
        .and_then(|v| untag(v).get("ports"))
        .map(untag)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|p| {
            let after = s
                .ports
                .iter()
                .find(|c| &c.before == p)
                .map(|c| &c.after)
                .unwrap_or(p);
            match untag(after) {
                Value::Mapping(m) => {
                    let target = m.get("target").and_then(scalar_string).unwrap_or_default();
                    match m.get("published").and_then(scalar_string) {
                        Some(p) => format!("{p}:{target}"),
                        None => target,
                    }
                }
                other => scalar_string(other).unwrap_or_default(),
            }
        })
        .collect()
}

impl Graph {
    /// `doc` is the document the plan was made from (for published ports).
    pub fn new(plan: &Plan, doc: &Value) -> Graph {
        let mut taken = Vec::new();
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let mut net_ids = Vec::new();
        for n in &plan.networks {
            let id = node_id("n", &n.key, &mut taken);
            let kind = network_kind(n);
            let mut lines = vec![n.key.clone()];
            if n.name != n.key {
                lines.push(n.name.clone());
            }
            if let Some(s) = n.subnet {
                lines.push(s.to_string());
            }
            if n.internal {
                lines.push("internal".into());
            }
            net_ids.push((n.key.clone(), id.clone()));
            nodes.push(Node { id, kind, lines });
        }
        let mut svc_ids = Vec::new();
        for s in &plan.services {
            svc_ids.push((s.name.clone(), node_id("s", &s.name, &mut taken)));
        }
        let written = crate::compose::services(doc);
        for (s, (_, id)) in plan.services.iter().zip(&svc_ids) {
            // Public in the plan (it joins the proxy network), or routed by a proxy the
            // policy does not name (Traefik / caddy labels in the file).
            let labelled_public = written
                .iter()
                .any(|(n, m)| *n == s.name && crate::proxy_labels::is_public(m));
            let kind = if !s.fenced {
                Kind::NetworkMode
            } else if s.public || labelled_public {
                Kind::Public
            } else {
                Kind::Service
            };
            let mut lines = vec![s.name.clone()];
            if let Some(mode) = &s.network_mode {
                lines.push(format!("network_mode: {mode}"));
            }
            let ports = ports_after(s, doc);
            if !ports.is_empty() {
                lines.push(format!("ports {}", ports.join(", ")));
            }
            nodes.push(Node {
                id: id.clone(),
                kind,
                lines,
            });
            for a in &s.attachments {
                let Some((_, nid)) = net_ids.iter().find(|(k, _)| *k == a.network) else {
                    continue;
                };
                let mut label: Vec<String> = a
                    .aliases
                    .iter()
                    .filter(|x| **x != s.name)
                    .cloned()
                    .collect();
                label.extend(a.ipv4_address.clone());
                label.extend(a.ipv6_address.clone());
                let proxy = plan
                    .network(&a.network)
                    .is_some_and(|n| n.role == Role::Proxy);
                edges.push(Edge {
                    from: id.clone(),
                    to: nid.clone(),
                    label,
                    proxy,
                    shares: false,
                });
            }
            if let Some(other) = s
                .network_mode
                .as_deref()
                .and_then(|m| m.strip_prefix("service:"))
            {
                if let Some((_, oid)) = svc_ids.iter().find(|(n, _)| n == other) {
                    edges.push(Edge {
                        from: id.clone(),
                        to: oid.clone(),
                        label: vec!["shares network".into()],
                        proxy: false,
                        shares: true,
                    });
                }
            }
        }
        Graph {
            title: format!("{} ({})", plan.project_name, plan.scope),
            nodes,
            edges,
        }
    }

    pub fn mermaid(&self) -> String {
        let esc = |s: &str| {
            s.replace('&', "#amp;")
                .replace('"', "#quot;")
                .replace('<', "#lt;")
                .replace('>', "#gt;")
        };
        let mut out = String::new();
        out.push_str("---\n");
        out.push_str(&format!("title: \"{}\"\n", self.title.replace('"', "'")));
        out.push_str("---\nflowchart LR\n");
        out.push_str("  subgraph legend [\"legend\"]\n    direction TB\n");
        for k in Kind::ALL {
            let (open, close) = k.mermaid_shape();
            out.push_str(&format!(
                "    legend_{}{open}\"{}\"{close}:::{}\n",
                k.class(),
                esc(k.legend()),
                k.class()
            ));
        }
        out.push_str("  end\n");
        for n in &self.nodes {
            let (open, close) = n.kind.mermaid_shape();
            let label: Vec<String> = n.lines.iter().map(|l| esc(l)).collect();
            out.push_str(&format!(
                "  {}{open}\"{}\"{close}:::{}\n",
                n.id,
                label.join("<br/>"),
                n.kind.class()
            ));
        }
        for (i, e) in self.edges.iter().enumerate() {
            let arrow = if e.shares { "-.-" } else { "---" };
            if e.label.is_empty() {
                out.push_str(&format!("  {} {arrow} {}\n", e.from, e.to));
            } else {
                let label: Vec<String> = e.label.iter().map(|l| esc(l)).collect();
                out.push_str(&format!(
                    "  {} {arrow}|\"{}\"| {}\n",
                    e.from,
                    label.join("<br/>"),
                    e.to
                ));
            }
            if e.proxy {
                out.push_str(&format!(
                    "  linkStyle {i} stroke:#b91c1c,stroke-width:2px\n"
                ));
            }
        }
        for k in Kind::ALL {
            out.push_str(&format!("  {}\n", k.mermaid_class()));
        }
        out
    }

    pub fn dot(&self) -> String {
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let label = |lines: &[String]| lines.iter().map(|l| esc(l)).collect::<Vec<_>>().join("\\n");
        let mut out = String::new();
        out.push_str("graph netfence {\n");
        out.push_str(&format!(
            "  graph [rankdir=LR, fontname=\"Helvetica\", labelloc=t, fontsize=14, label=\"{}\"];\n",
            esc(&self.title)
        ));
        out.push_str("  node [fontname=\"Helvetica\", fontsize=11];\n");
        out.push_str("  edge [fontname=\"Helvetica\", fontsize=9, color=\"#475569\"];\n");
        out.push_str("  subgraph cluster_legend {\n    label=\"legend\"; style=\"dashed\"; color=\"#94a3b8\"; fontsize=11;\n");
        for k in Kind::ALL {
            out.push_str(&format!(
                "    legend_{} [label=\"{}\", {}, fontsize=9];\n",
                k.class(),
                esc(k.legend()),
                k.dot_attrs()
            ));
        }
        // One rank in a left-to-right graph is one column: the legend stacks vertically.
        let chain: Vec<String> = Kind::ALL
            .iter()
            .map(|k| format!("legend_{}", k.class()))
            .collect();
        out.push_str(&format!("    {{ rank=same; {} }}\n", chain.join("; ")));
        // Invisible edges fix the order (drawn bottom-up in a left-to-right graph).
        let reversed: Vec<&str> = chain.iter().rev().map(String::as_str).collect();
        out.push_str(&format!("    {} [style=invis];\n", reversed.join(" -- ")));
        out.push_str("  }\n");
        for n in &self.nodes {
            out.push_str(&format!(
                "  {} [label=\"{}\", {}];\n",
                n.id,
                label(&n.lines),
                n.kind.dot_attrs()
            ));
        }
        for e in &self.edges {
            let mut attrs = Vec::new();
            if !e.label.is_empty() {
                attrs.push(format!("label=\"{}\"", label(&e.label)));
            }
            if e.proxy {
                attrs.push("color=\"#b91c1c\", penwidth=2".to_owned());
            }
            if e.shares {
                attrs.push("style=dashed".to_owned());
            }
            let attrs = if attrs.is_empty() {
                String::new()
            } else {
                format!(" [{}]", attrs.join(", "))
            };
            out.push_str(&format!("  {} -- {}{attrs};\n", e.from, e.to));
        }
        out.push_str("}\n");
        out
    }
}

/// Why Graphviz could not render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("`{program}` (Graphviz) was not found: install Graphviz (Debian: apt-get install graphviz), set {DOT_ENV} to its path, or use --format mermaid|dot")]
    Missing { program: String },
    #[error("`{program} -T{format}` failed ({status}): {stderr}")]
    Failed {
        program: String,
        format: String,
        status: String,
        stderr: String,
    },
    #[error("running `{program}`: {source}")]
    Io {
        program: String,
        #[source]
        source: std::io::Error,
    },
}

/// Renders DOT text through Graphviz: `format` is `svg` or `png`.
pub fn render_dot(dot: &str, format: &str) -> Result<Vec<u8>, RenderError> {
    let program = std::env::var(DOT_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "dot".to_owned());
    let io = |source| RenderError::Io {
        program: program.clone(),
        source,
    };
    let mut child = match Command::new(&program)
        .arg(format!("-T{format}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RenderError::Missing { program })
        }
        Err(e) => return Err(io(e)),
    };
    // Written from a thread: a large graph could fill both pipes at once.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let text = dot.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()));
    let output = child.wait_with_output().map_err(io)?;
    match writer.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Ok(Err(e)) => return Err(io(e)),
        Err(_) => {}
    }
    if !output.status.success() {
        return Err(RenderError::Failed {
            program,
            format: format.to_owned(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(output.stdout)
}
