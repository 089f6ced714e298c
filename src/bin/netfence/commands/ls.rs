//! `netfence ls`: what netfence manages on this engine's host, as a table for people or
//! JSON for platforms.

use std::fmt::Write;
use std::time::SystemTime;

use netfence::engine::host::inventory::{self, Inventory, ScopeEntry};
use netfence::engine::{self, Engine};
use netfence::policy::{self, Discovery};
use netfence::render::table_rows;

use super::emit;
use crate::args::PlanFormat;
use crate::exit::ExitStatus;
use crate::settings::LsSettings;

pub fn run(s: LsSettings) -> anyhow::Result<ExitStatus> {
    let (loaded, _) = policy::discover(Discovery {
        explicit: s.policy.as_deref(),
        embedded: None,
        working_dir: s.working_dir.clone(),
        scope: None,
    })?;
    // A policy is checked when it is read: its pool parses.
    let pool = loaded.policy.subnets.as_ref().and_then(|sub| {
        let net = policy::parse_cidr(&sub.pool).ok()?;
        Some((net, sub.prefix_length.unwrap_or(24)))
    });
    let settings = inventory::Settings {
        location: engine::host::address_space::engine_address(),
        max_networks: loaded.policy.max_networks(),
        pool,
        policy: loaded.source.to_string(),
        checkout_exists: std::sync::Arc::new(std::path::Path::is_dir),
        reuse_record: {
            let state = netfence::engine::host::state_dir::StateDir::existing();
            std::sync::Arc::new(move |id: &str| state.as_ref()?.reuse_record(id))
        },
    };
    let observed = engine::block_on(async {
        let engine = Engine::connect().await?;
        Ok(inventory::observe(&engine).await?)
    })?;
    let inv = inventory::build(&observed, &settings, SystemTime::now());
    match s.format {
        PlanFormat::Json => emit(&serde_json::to_string_pretty(&inv)?)?,
        PlanFormat::Table => emit(&table(&inv))?,
    }
    Ok(ExitStatus::Success)
}

/// `42s`, `7m`, `3h`, `2d`: the largest whole unit.
fn ago(secs: Option<u64>) -> String {
    match secs {
        None => "-".into(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) if s < 3600 => format!("{}m", s / 60),
        Some(s) if s < 86_400 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86_400),
    }
}

fn owner(s: &ScopeEntry) -> String {
    if let Some(checkout) = &s.checkout {
        return format!("checkout {checkout}");
    }
    if let Some(r) = &s.reuse {
        return format!(
            "reused, input {}, last use {} ago",
            r.digest,
            ago(r.idle_seconds)
        );
    }
    match &s.owner {
        Some(o) => match o.pid {
            Some(pid) => format!("pid {pid} {}", o.liveness),
            None => o.liveness.to_owned(),
        },
        None if s.kind == "run" => "none".into(),
        None => "-".into(),
    }
}

fn table(inv: &Inventory) -> String {
    let mut out = String::new();
    let e = &inv.engine;
    let _ = writeln!(
        out,
        "engine   {}; {}; Docker {} on host {}",
        e.location,
        if e.local { "on this host" } else { "remote" },
        e.version,
        e.host
    );
    let _ = writeln!(out, "policy   {}", inv.policy);
    if inv.scopes.is_empty() && inv.summary.managed_networks == 0 {
        let _ = writeln!(
            out,
            "\nnothing managed here: no netfence-labelled containers, networks or volumes on this engine"
        );
    } else {
        scopes(&mut out, inv);
    }
    networks(&mut out, inv);
    capacity(&mut out, inv);
    orphans(&mut out, inv);
    out
}

fn scopes(out: &mut String, inv: &Inventory) {
    let rows: Vec<[String; 7]> = inv
        .scopes
        .iter()
        .map(|s| {
            let running = s.containers.iter().filter(|c| c.running).count();
            [
                s.scope.clone(),
                s.kind.clone(),
                if s.projects.is_empty() {
                    "-".into()
                } else {
                    s.projects.join(",")
                },
                format!("{running}/{}", s.containers.len()),
                s.networks.len().to_string(),
                ago(s.age_seconds),
                if s.orphaned {
                    format!("{} (orphan)", owner(s))
                } else {
                    owner(s)
                },
            ]
        })
        .collect();
    let _ = writeln!(out);
    table_rows(
        out,
        [
            "SCOPE", "KIND", "PROJECTS", "RUNNING", "NETWORKS", "AGE", "OWNER",
        ],
        &rows,
    );
    let rows: Vec<[String; 4]> = inv
        .scopes
        .iter()
        .flat_map(|s| s.containers.iter().map(move |c| (s, c)))
        .map(|(s, c)| {
            let nets: Vec<String> = c
                .networks
                .iter()
                .map(|(n, ip)| match ip {
                    Some(ip) => format!("{n} {ip}"),
                    None => n.clone(),
                })
                .collect();
            let ports: Vec<String> = c
                .ports
                .iter()
                .map(|p| {
                    let ip = if p.host_ip.contains(':') {
                        format!("[{}]", p.host_ip)
                    } else {
                        p.host_ip.clone()
                    };
                    format!("{ip}:{}->{}/{}", p.host_port, p.container_port, p.protocol)
                })
                .collect();
            [
                c.name.clone(),
                s.scope.clone(),
                nets.join(", "),
                if ports.is_empty() {
                    "-".into()
                } else {
                    ports.join(", ")
                },
            ]
        })
        .collect();
    if !rows.is_empty() {
        let _ = writeln!(out);
        table_rows(out, ["CONTAINER", "SCOPE", "NETWORKS", "PORTS"], &rows);
    }
}

fn networks(out: &mut String, inv: &Inventory) {
    let rows: Vec<[String; 5]> = inv
        .networks
        .iter()
        .filter(|n| n.managed)
        .map(|n| {
            [
                n.name.clone(),
                n.scope.clone().unwrap_or_else(|| "-".into()),
                n.role.clone().unwrap_or_else(|| "-".into()),
                if n.subnets.is_empty() {
                    "-".into()
                } else {
                    n.subnets.join(",")
                },
                n.containers
                    .as_ref()
                    .map_or_else(|| "-".into(), |c| c.len().to_string()),
            ]
        })
        .collect();
    if !rows.is_empty() {
        let _ = writeln!(out);
        table_rows(
            out,
            ["NETWORK", "SCOPE", "ROLE", "SUBNETS", "CONTAINERS"],
            &rows,
        );
    }
    let unmanaged: Vec<String> = inv
        .networks
        .iter()
        .filter(|n| !n.managed)
        .map(|n| match n.subnets.first() {
            Some(s) => format!("{} {s}", n.name),
            None => n.name.clone(),
        })
        .collect();
    let _ = writeln!(
        out,
        "\nunmanaged networks: {}{}",
        unmanaged.len(),
        if unmanaged.is_empty() {
            String::new()
        } else {
            format!(" ({})", unmanaged.join(", "))
        }
    );
}

fn capacity(out: &mut String, inv: &Inventory) {
    let c = &inv.capacity;
    let _ = writeln!(out, "\ncapacity:");
    let _ = writeln!(
        out,
        "  managed networks  {} of {} (limits.max_networks), {} left",
        c.managed_networks, c.max_networks, c.networks_left
    );
    let p = &c.pool;
    let _ = writeln!(
        out,
        "  subnet pool       {} /{} ({}): {} subnets, {} in use ({} by netfence), {} free",
        p.pool,
        p.prefix_length,
        if p.source == "policy" {
            "policy subnets.pool"
        } else {
            "fallback: where run takes subnets without subnets.pool"
        },
        p.subnets,
        p.in_use,
        p.by_netfence,
        p.free
    );
    for a in &p.avoided {
        let _ = writeln!(out, "      avoided {a}");
    }
    let d = &c.daemon_pools;
    let _ = writeln!(
        out,
        "  daemon pools      {} networks, {} in use, {} free ({})",
        d.networks, d.in_use, d.free, d.note
    );
    for pool in &d.pools {
        let _ = writeln!(
            out,
            "      {} /{}: {} of {} in use",
            pool.base, pool.size, pool.in_use, pool.networks
        );
    }
    if inv.engine.local {
        let routes: Vec<String> = c.host_routes.iter().map(ToString::to_string).collect();
        let _ = writeln!(
            out,
            "  host routes       {}",
            if routes.is_empty() {
                "none besides Docker's own bridges and default routes".into()
            } else {
                routes.join(", ")
            }
        );
    } else {
        let _ = writeln!(
            out,
            "  host routes       not read: the engine is not on this host"
        );
    }
}

fn orphans(out: &mut String, inv: &Inventory) {
    if inv.orphans.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\norphans (runs no live `netfence run` owns: `netfence gc --older-than 0s` removes them, plain `gc` once an hour old; dev stacks whose checkout is gone: `gc --dev`):"
    );
    for o in &inv.orphans {
        let objects: Vec<String> = o
            .objects
            .iter()
            .map(|x| format!("{} {}", x.kind, x.name))
            .collect();
        let _ = writeln!(
            out,
            "  {}  {}  {}  ({})",
            o.scope,
            ago(o.age_seconds),
            objects.join(", "),
            o.gc
        );
    }
}
