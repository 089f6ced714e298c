//! Human views of a plan: the table `netfence plan` prints.

use std::fmt::Write;

use crate::plan::{Plan, Role};

pub fn table(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scope    {}", plan.scope);
    let _ = writeln!(out, "project  {} (was {})", plan.project_name, plan.project);
    let _ = writeln!(
        out,
        "policy   {} ({})",
        plan.policy_source, plan.policy_digest
    );
    let _ = writeln!(out);
    table_rows(
        &mut out,
        ["NETWORK", "NAME", "ROLE", "SUBNET", "FLAGS"],
        &network_rows(plan),
    );
    let _ = writeln!(out);
    table_rows(
        &mut out,
        ["SERVICE", "NETWORKS", "ALIASES", ""],
        &service_rows(plan),
    );
    profiles(&mut out, plan);
    changes_and_warnings(&mut out, plan);
    out
}

/// Which services `run` and `up` start under the active profiles (all are fenced).
fn profiles(out: &mut String, plan: &Plan) {
    let p = &plan.profiles;
    if p.is_empty() {
        return;
    }
    let active = p.describe_active().unwrap_or_else(|| "none".to_owned());
    let _ = writeln!(
        out,
        "
profiles: active {active}"
    );
    if !p.inactive_services.is_empty() {
        let _ = writeln!(
            out,
            "  fenced, not started by run/up: {}",
            p.inactive_services.join(", ")
        );
    }
}

fn network_rows(plan: &Plan) -> Vec<[String; 5]> {
    plan.networks
        .iter()
        .map(|n| {
            let mut flags = Vec::new();
            if n.internal {
                flags.push("internal");
            }
            if n.attachable {
                flags.push("attachable");
            }
            if n.role == Role::External || n.role.is_persistent() {
                flags.push("external");
            }
            [
                n.key.clone(),
                n.name.clone(),
                crate::plan::role_name(n.role).to_owned(),
                n.subnet
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "auto".into()),
                flags.join(","),
            ]
        })
        .collect()
}

fn service_rows(plan: &Plan) -> Vec<[String; 4]> {
    plan.services
        .iter()
        .map(|s| {
            let nets = if let Some(mode) = &s.network_mode {
                format!("network_mode: {mode}")
            } else {
                s.attachments
                    .iter()
                    .map(|a| {
                        let mut t = a.network.clone();
                        if let Some(ip) = &a.ipv4_address {
                            t.push_str(&format!("@{ip}"));
                        }
                        t
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let aliases: Vec<String> = s
                .attachments
                .iter()
                .flat_map(|a| {
                    a.aliases
                        .iter()
                        .map(move |al| format!("{al}@{}", a.network))
                })
                .collect();
            [
                s.name.clone(),
                nets,
                if aliases.is_empty() {
                    "-".into()
                } else {
                    aliases.join(", ")
                },
                if s.public {
                    "public".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect()
}

fn changes_and_warnings(out: &mut String, plan: &Plan) {
    if !plan.changes.is_empty() {
        let _ = writeln!(out, "\nchanges:");
        for c in &plan.changes {
            let _ = writeln!(
                out,
                "  {}: {}\n      why: {}",
                c.subject, c.change, c.reason
            );
        }
    }
    if !plan.avoided.is_empty() {
        let _ = writeln!(out, "\navoided (in use in the pool):");
        for a in &plan.avoided {
            let _ = writeln!(out, "  {a}");
        }
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings:");
        for w in &plan.warnings {
            let _ = writeln!(out, "  {}: {}", w.subject, w.message);
        }
    }
}

/// Rows under a header, each column as wide as its widest cell; the last column is not
/// padded.
pub fn table_rows<const N: usize>(out: &mut String, head: [&str; N], rows: &[[String; N]]) {
    let mut width = head.map(str::len);
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let line = |out: &mut String, cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == N {
                l.push_str(c);
            } else {
                let _ = write!(l, "{:<w$}  ", c, w = width[i]);
            }
        }
        let _ = writeln!(out, "{}", l.trim_end());
    };
    line(out, head.to_vec());
    for r in rows {
        line(out, r.iter().map(String::as_str).collect());
    }
}
