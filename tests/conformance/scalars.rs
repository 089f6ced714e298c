//! Every scalar reads the same after the rewrite, judged by Compose itself on the scalars fixture
//! (`fixtures/rewrite/scalars`): `docker compose config --format json` of netfence's
//! output equals that of the input, apart from what netfence owns (the project name,
//! the networks, services' attachments, `io.netfence.*` labels, the `x-netfence` record).
//! The real-world corpus holds none of these scalars, so this fixture is where leading
//! zeros, YAML 1.1 booleans, `1e3`, `12:30`, wide integers and block scalars are checked.

use std::path::Path;
use std::process::{Command, Stdio};

use netfence::{Options, Project, Scope};

use super::{unavailable, ComposeCmd};

/// `config --format json` of compose text given on stdin, in an empty environment.
fn config_json(compose: &ComposeCmd, dir: &Path, text: &str) -> Result<serde_json::Value, String> {
    use std::io::Write;
    let mut cmd = Command::new(&compose.program);
    cmd.args(&compose.prefix)
        .args(["-f", "-", "--project-directory"])
        .arg(dir)
        .args(["config", "--format", "json"])
        .env_clear()
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for keep in ["PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "TMPDIR"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start compose: {e}"))?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("compose printed no JSON: {e}"))
}

/// Removes what netfence owns from Compose's view of a project.
fn without_owned(mut config: serde_json::Value) -> serde_json::Value {
    let top = config.as_object_mut().expect("config is an object");
    for owned in ["name", "networks", "x-netfence"] {
        top.remove(owned);
    }
    for holder in ["services", "volumes"] {
        let Some(items) = top.get_mut(holder).and_then(|s| s.as_object_mut()) else {
            continue;
        };
        for item in items.values_mut().filter_map(|s| s.as_object_mut()) {
            item.remove("networks");
            item.remove("container_name");
            if let Some(labels) = item.get_mut("labels").and_then(|l| l.as_object_mut()) {
                labels.retain(|k, _| !k.starts_with("io.netfence."));
            }
        }
    }
    config
}

#[test]
fn compose_reads_every_scalar_the_same_after_the_rewrite() {
    let Some(compose) = ComposeCmd::find() else {
        unavailable("Docker Compose v2 not found; scripts/provision-engine.sh installs it");
        return;
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rewrite/scalars");
    let file = dir.join("compose.yml");
    let text = std::fs::read_to_string(&file).expect("fixtures/rewrite/scalars/compose.yml");
    let no_policy = tempfile::tempdir().expect("temp dir");
    for scope in [Scope::Run("conf".into()), Scope::Env("staging".into())] {
        let input = netfence::load::load(std::slice::from_ref(&file), &mut std::io::empty())
            .expect("fixture loads");
        let mut project = Project::new(input, None, no_policy.path()).expect("built-in policy");
        // In env scope the file is a tenant's: its output is closed with the variables
        // the policy names, here those Compose itself is given.
        project.policy.policy.tenant.environment = super::KEPT.map(String::from).to_vec();
        let opts = Options {
            scope: Some(scope.clone()),
            environ: super::kept_environment(),
            ..Options::default()
        };
        let plan = project.plan(&opts).expect("plan");
        let out = netfence::yaml::to_string(&project.into_rewrite(&plan));

        let before = config_json(&compose, &dir, &text).expect("Compose accepts the fixture");
        let after = config_json(&compose, &dir, &out)
            .unwrap_or_else(|e| panic!("[{scope}] Compose rejects the rewrite: {e}\n{out}"));
        let (mut before, mut after) = (without_owned(before), without_owned(after));
        // A tenant's closed output leaves out a name the deploy does not set.
        super::drop_unset_environment(&mut before);
        super::drop_unset_environment(&mut after);
        if before != after {
            let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap();
            let (b, a) = (pretty(&before), pretty(&after));
            let first = b
                .lines()
                .zip(a.lines())
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            panic!(
                "[{scope}] Compose reads the rewrite differently, from line {}:\n  input:  {}\n  output: {}",
                first + 1,
                b.lines().nth(first).unwrap_or(""),
                a.lines().nth(first).unwrap_or(""),
            );
        }
        // The values that motivated this: Compose's reading, pinned.
        let app = &after["services"]["app"];
        assert_eq!(app["environment"]["UMASK"], "18");
        assert_eq!(app["ulimits"]["nofile"]["soft"], 8192);
        assert_eq!(app["volumes"][0]["tmpfs"]["mode"], 1023);
        assert_eq!(app["labels"]["com.example.on"], "on");
        assert_eq!(after["x-values"]["big20"], 12345678901234567890u64);
    }
}
