//! The loading fixtures (`fixtures/load/`, and the same-file `extends` of
//! `fixtures/rewrite/extends-same-file`) judged by the real Compose:
//!
//! * a file netfence refuses (an include cycle or conflict, an extends cycle) Compose
//!   refuses too, for the reason netfence names;
//! * of a file it accepts, `docker compose config --format json` of netfence's output
//!   shows no `container_name`, no published host port and no network that is not
//!   scoped, and otherwise equals Compose's view of the input apart from what netfence
//!   owns: network and volume names, IPAM, service networks' aliases, container names,
//!   published ports and the address they bind, the `io.netfence.*` labels, the project
//!   name and `x-` keys.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value as J};

use netfence::{Options, Project, Scope};

use super::{required, unavailable, ComposeCmd};

impl ComposeCmd {
    /// `config --format json` of `files` (or of `text` on stdin) with `dir` as the
    /// project directory, in an empty environment; `Err` is Compose's message.
    fn config_json(&self, dir: &Path, files: &[PathBuf], text: Option<&str>) -> Result<J, String> {
        let out = self.run(dir, files, text, &["-p", "t", "config", "--format", "json"])?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("compose printed no JSON: {e}"))
    }
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("load"))
        .expect("fixtures/load")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.push(root.join("rewrite/extends-same-file"));
    dirs
}

/// The files a fixture names (`files=` in its `args`), else `compose.yml`.
fn files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(dir.join("args"))
        .ok()
        .and_then(|a| {
            a.lines()
                .find_map(|l| l.strip_prefix("files=").map(str::to_owned))
        })
        .map(|l| l.split(',').map(|f| dir.join(f)).collect())
        .unwrap_or_else(|| vec![dir.join("compose.yml")])
}

fn fence(files: &[PathBuf], dir: &Path) -> netfence::Result<String> {
    let input = netfence::load::load(files, &mut std::io::empty())?;
    let mut project = Project::new(input, None, &dir.join("no-policy-here"))?;
    project.policy.policy.tenant.enabled = Some(false);
    let opts = Options {
        scope: Some(Scope::Run("conf".into())),
        environ: Default::default(),
        ..Options::default()
    };
    let plan = project.plan(&opts)?;
    Ok(netfence::yaml::to_string(&project.rewrite(&plan)))
}

/// Drops the `io.netfence.*` labels; an emptied map goes.
fn own_labels_out(m: &mut Map<String, J>) {
    if let Some(J::Object(labels)) = m.get_mut("labels") {
        labels.retain(|k, _| !k.starts_with("io.netfence."));
        if labels.is_empty() {
            m.remove("labels");
        }
    }
}

/// Compose's view with what netfence owns taken out; with `fenced`, what is still
/// unfenced in it.
fn normalise(mut v: J, fenced: bool) -> (J, Vec<String>) {
    let mut problems = Vec::new();
    let top = v.as_object_mut().expect("compose config is an object");
    top.remove("name");
    top.retain(|k, _| !k.starts_with("x-"));
    if let Some(J::Object(nets)) = top.get_mut("networks") {
        for (key, net) in nets.iter_mut() {
            let net = net.as_object_mut().expect("a network is an object");
            let external = net.get("external").and_then(J::as_bool) == Some(true);
            let name = net.get("name").and_then(J::as_str).unwrap_or_default();
            if fenced && !external && !name.starts_with("nf-conf-") {
                problems.push(format!("network {key} is not scoped: {name}"));
            }
            net.remove("name");
            net.remove("ipam");
            own_labels_out(net);
        }
    }
    if let Some(J::Object(vols)) = top.get_mut("volumes") {
        for (_, vol) in vols.iter_mut() {
            let vol = vol.as_object_mut().expect("a volume is an object");
            vol.remove("name");
            own_labels_out(vol);
        }
    }
    if let Some(J::Object(services)) = top.get_mut("services") {
        for (name, svc) in services.iter_mut() {
            let svc = svc.as_object_mut().expect("a service is an object");
            if let Some(c) = svc.remove("container_name") {
                if fenced {
                    problems.push(format!("service {name} keeps container_name {c}"));
                }
            }
            if let Some(J::Array(ports)) = svc.get_mut("ports") {
                for p in ports {
                    let p = p.as_object_mut().expect("a port is an object");
                    if let Some(published) = p.remove("published") {
                        if fenced && published.as_str().is_some_and(|s| !s.is_empty()) {
                            problems
                                .push(format!("service {name} publishes host port {published}"));
                        }
                    }
                    // Where a run publishes is netfence's too: 127.0.0.1 by default.
                    if let Some(ip) = p.remove("host_ip") {
                        if fenced && ip != "127.0.0.1" {
                            problems.push(format!("service {name} publishes on {ip}"));
                        }
                    }
                }
            }
            if let Some(J::Object(nets)) = svc.get_mut("networks") {
                for (_, cfg) in nets.iter_mut() {
                    *cfg = J::Null;
                }
            }
            own_labels_out(svc);
        }
    }
    (v, problems)
}

#[test]
fn load_fixtures_as_compose_reads_them() {
    let Some(compose) = ComposeCmd::find() else {
        unavailable("Docker Compose v2 not found; scripts/provision-engine.sh installs it");
        return;
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in cases() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let files = files(&dir);
        let original = compose.config_json(&dir, &files, None);
        match (original, fence(&files, &dir)) {
            (Err(c), Err(n)) => {
                // Compose's first line, its paths aside, is in netfence's message.
                let first = c.lines().next().unwrap_or_default().to_owned();
                if !n.to_string().contains(&first) {
                    failures.push(format!(
                        "{name}: both refuse, but netfence does not say what Compose says ({first:?}): {n}"
                    ));
                }
            }
            (Err(c), Ok(_)) => failures.push(format!(
                "{name}: Compose refuses it ({c}) but netfence fences it"
            )),
            (Ok(_), Err(n)) => failures.push(format!(
                "{name}: Compose accepts it but netfence refuses: {n}"
            )),
            (Ok(before), Ok(out)) => match compose.config_json(&dir, &[], Some(&out)) {
                Err(e) => failures.push(format!("{name}: Compose refuses the output: {e}")),
                Ok(after) => {
                    let (before, _) = normalise(before, false);
                    let (after, problems) = normalise(after, true);
                    for p in problems {
                        failures.push(format!("{name}: {p}"));
                    }
                    if before != after {
                        failures.push(format!(
                            "{name}: Compose reads the output otherwise than the input:\n  input:  {before}\n  output: {after}"
                        ));
                    }
                    checked += 1;
                }
            },
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        checked >= 6 || !required(),
        "only {checked} accepted fixtures checked"
    );
}
