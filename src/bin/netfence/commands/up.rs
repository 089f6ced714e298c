//! `netfence up`: this checkout's stack, fenced under scope `dev:<slug>` and left up, on
//! host ports that stay the same; prints where each service is.

use std::io::IsTerminal;

use netfence::engine::stacks::dev::{self, DevUp, UpOptions};
use serde_json::json;

use crate::args::PlanFormat;
use crate::exit::ExitStatus;
use crate::settings::UpSettings;

pub fn run(s: UpSettings) -> anyhow::Result<ExitStatus> {
    let project = s.input.load()?;
    let up = dev::up(
        project,
        UpOptions {
            checkout: s.checkout.clone(),
            project_name: s.input.project_name.clone(),
            environ: s.input.environ.clone(),
            timeout: s.timeout,
            progress: std::io::stderr().is_terminal(),
            wait: s.wait,
            profiles: s.input.profiles.clone(),
        },
    )?;
    match s.format {
        PlanFormat::Table => super::emit(&table(&up))?,
        PlanFormat::Json => super::emit(&serde_json::to_string_pretty(&document(&up))?)?,
    }
    eprintln!(
        "netfence: {} {} (checkout {}, project {}); `netfence down` there removes it",
        up.scope,
        if up.was_up {
            "is up"
        } else {
            "is up, started now"
        },
        up.checkout.display(),
        up.info.project
    );
    Ok(ExitStatus::Success)
}

/// One line per published port and container (a service without one is listed with
/// `-`): the IPv4 address when there is one, as a link for TCP, `udp://…` for the
/// others. `--format json` has every binding.
fn table(up: &DevUp) -> String {
    let mut rows: Vec<[String; 3]> = vec![["SERVICE".into(), "PORT".into(), "ADDRESS".into()]];
    for (service, containers) in &up.info.services {
        let mut any = false;
        for c in containers {
            let mut seen = std::collections::BTreeSet::new();
            // IPv4 first: the run info lists each port's bindings so.
            for p in c
                .ports
                .iter()
                .filter(|p| seen.insert((p.container_port, &p.protocol)))
            {
                any = true;
                let scheme = if p.protocol == "tcp" {
                    "http"
                } else {
                    &p.protocol
                };
                rows.push([
                    service.clone(),
                    format!("{}/{}", p.container_port, p.protocol),
                    format!("{scheme}://{}", p.address),
                ]);
            }
        }
        if !any {
            rows.push([service.clone(), "-".into(), "-".into()]);
        }
    }
    let width = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap_or(0);
    let (w0, w1) = (width(0), width(1));
    rows.iter()
        .map(|r| format!("{:w0$}  {:w1$}  {}\n", r[0], r[1], r[2]))
        .collect()
}

fn document(up: &DevUp) -> serde_json::Value {
    let ports: Vec<serde_json::Value> = up
        .info
        .services
        .iter()
        .flat_map(|(service, cs)| {
            cs.iter().flat_map(move |c| {
                c.ports.iter().map(move |p| {
                    json!({
                        "service": service,
                        "container": c.name,
                        "container_port": p.container_port,
                        "protocol": p.protocol,
                        "address": p.address,
                    })
                })
            })
        })
        .collect();
    json!({
        "scope": up.scope,
        "checkout": up.checkout,
        "project": up.info.project,
        "compose_file": up.compose_file,
        "was_up": up.was_up,
        "ports": ports,
        "info": up.info,
    })
}
