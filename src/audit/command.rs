//! The `netfence audit` mode: read, plan, judge, print; exit 1 under `--deny` when
//! findings at that level exist (SPEC §4), 2 on bad input.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use ipnet::IpNet;

use super::{Occupied, Report, Severity};
use crate::cli::{AuditArgs, AuditFormat, ColorChoice, DenyLevel};
use crate::error::Error;
use crate::plan::Options;
use crate::scope::Scope;
use crate::Project;

/// How long audit waits for an engine before judging without one.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(3);

/// Subnets in use on the live engine, for rule NF007: `None` when no engine answers.
///
/// The hook between audit and the engine module: audit must work without an engine, so
/// an unreachable engine is never an error here, and a slow one is given up on after
/// [`ENGINE_TIMEOUT`]. `--no-engine` skips it (and `--occupied-subnet` adds to it).
pub fn live_engine_subnets() -> Option<Vec<Occupied>> {
    let rt = crate::engine::runtime().ok()?;
    rt.block_on(async {
        let lookup = async {
            let engine = crate::engine::Engine::connect().await.ok()?;
            let networks = engine.docker.list_networks(None).await.ok()?;
            let occupied: Vec<Occupied> = networks
                .iter()
                .flat_map(|n| {
                    let name = n.name.clone().unwrap_or_default();
                    n.ipam
                        .iter()
                        .flat_map(|i| i.config.iter().flatten())
                        .filter_map(|c| c.subnet.as_deref()?.parse::<IpNet>().ok())
                        .map(move |subnet| Occupied {
                            subnet,
                            network: name.clone(),
                        })
                })
                .collect();
            Some(occupied)
        };
        tokio::time::timeout(ENGINE_TIMEOUT, lookup)
            .await
            .ok()
            .flatten()
    })
}

pub fn run(a: &AuditArgs) -> anyhow::Result<u8> {
    let mut occupied = a
        .occupied_subnets
        .iter()
        .map(|s| parse_occupied(s))
        .collect::<Result<Vec<_>, _>>()?;
    if !a.no_engine {
        match live_engine_subnets() {
            Some(live) => {
                tracing::info!("{} subnet(s) in use on the engine", live.len());
                occupied.extend(live);
            }
            None => tracing::info!("no engine reachable: NF007 checks --occupied-subnet only"),
        }
    }

    let paths = crate::load::input_paths(
        &a.input.files,
        std::env::var("COMPOSE_FILE").ok().as_deref(),
        std::env::var("COMPOSE_PATH_SEPARATOR").ok().as_deref(),
    );
    if paths.iter().all(|p| p.as_os_str() == "-") && std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "no compose input: give -f FILE, set COMPOSE_FILE, or pipe a file to stdin".into(),
        )
        .into());
    }
    let (input, texts) = super::read_inputs(&paths)?;
    let cwd = std::env::current_dir().unwrap_or_default();
    let project = Project::new(input, a.input.policy.as_deref(), &cwd)?;
    if let Some(record) = &project.record {
        let digest = project.policy.policy.digest();
        if record.policy != digest {
            // Judging netfence's output by another policy reports what that policy would
            // change, not what is wrong with the file: say so.
            eprintln!(
                "netfence: note: the input was fenced with policy {}, audit uses {} ({}); pass the same --policy to judge it as it was made",
                record.policy, digest, project.policy.source
            );
        }
    }
    let opts = options(a, &project)?;
    let report = super::audit(&project, &opts, &texts, &occupied)?;

    let text = match a.format {
        AuditFormat::Human => super::human::render(&report, colour(a.color)),
        AuditFormat::Json => serde_json::to_string_pretty(&super::human::json(&report))? + "\n",
        AuditFormat::Sarif => serde_json::to_string_pretty(&crate::sarif::render(&report))? + "\n",
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(exit_code(&report, a.deny))
}

/// 1 when `--deny` is given and a finding at that level or above exists.
pub fn exit_code(report: &Report, deny: Option<DenyLevel>) -> u8 {
    let floor = match deny {
        None => return 0,
        Some(DenyLevel::Warn) => Severity::Warning,
        Some(DenyLevel::Error) => Severity::Error,
    };
    u8::from(report.count(floor) > 0)
}

/// The scope to judge with. Audit prints nothing about scopes: with none chosen (flags,
/// `$NETFENCE_RUN_ID`, or the record of already fenced input) it uses `run:audit`, which
/// only shows in network names the findings do not depend on.
fn options(a: &AuditArgs, project: &Project) -> crate::Result<Options> {
    let chosen = a.input.run_id.is_some()
        || a.input.env.is_some()
        || std::env::var("NETFENCE_RUN_ID").is_ok_and(|v| !v.is_empty())
        || project.record.is_some();
    let mut opts = Options {
        project: a.input.project_name.clone(),
        environ: crate::cli::environ(),
        ..Options::default()
    };
    opts.scope = if chosen {
        a.input.scope(project)?
    } else {
        Some(Scope::Run("audit".into()))
    };
    Ok(opts)
}

fn colour(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

/// `CIDR` or `NAME=CIDR`.
fn parse_occupied(s: &str) -> Result<Occupied, Error> {
    let (name, cidr) = match s.split_once('=') {
        Some((n, c)) => (n.to_owned(), c),
        None => (String::new(), s),
    };
    let subnet: IpNet = cidr.trim().parse().map_err(|_| {
        Error::Usage(format!(
            "--occupied-subnet `{s}`: expected a CIDR such as 172.18.0.0/16, optionally as NAME=CIDR"
        ))
    })?;
    Ok(Occupied {
        subnet: subnet.trunc(),
        network: name,
    })
}
