//! Generated tenant files, judged twice: by netfence (tenant mode, env scope) and by the
//! same tenant table on Compose's own reading of the input (`config --format json`, in
//! the same empty environment). The verdicts must agree, and an accepted file's output,
//! read by Compose, must hold no escape. The documents mix what made the two readings
//! differ before: tags, anchors and merge keys, `${VAR}` with defaults, and the keys
//! tenant mode judges. `NETFENCE_GENERATED=N` sets how many (default 40), seeded by
//! `NETFENCE_SEED` (default: a fixed seed, so a failure reproduces).

use std::collections::BTreeMap;
use std::path::Path;

use netfence::engine::client::second_opinion::{judge_with_compose, SecondOpinion};
use netfence::tenant::{self, Context};
use netfence::{Options, Project, Scope};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{unavailable, ComposeCmd};

/// One service setting, in the spellings that read the same to Compose.
const PIECES: &[&[&str]] = &[
    &[
        "privileged: true",
        "privileged: 'yes'",
        "privileged: !!binary dHJ1ZQ==",
        "privileged: ${PRIV:-true}",
        "privileged: false",
    ],
    &[
        "network_mode: host",
        "network_mode: !!binary aG9zdA==",
        "network_mode: ${MODE:-host}",
        "network_mode: none",
        "network_mode: 'service:other'",
        "network_mode: ce-env-staging",
    ],
    &[
        "volumes: ['/var/run/docker.sock:/s']",
        "volumes: [!!binary L3Zhci9ydW4vZG9ja2VyLnNvY2s6L3M=]",
        "volumes: ['${DATA:-./data}:/data']",
        "volumes: ['/etc:/host-etc']",
        "volumes: ['./data:/data']",
    ],
    &[
        "cap_add: [NET_ADMIN]",
        "cap_add: [CHOWN]",
        "<<: *caps",
        "pid: host",
        "pid: ${PID:-}",
    ],
    &[
        "environment: {A: '${A:-1}'}",
        "labels: {!!binary aW8ubmV0ZmVuY2Uuc2NvcGU=: x}",
        "labels: {app: web}",
        "labels: {traefik.http.routers.x.service: api@internal}",
        "user: !!str 0022",
    ],
    &[
        "ports: ['80:8080']",
        "ports: ['${PORT:-22}:22']",
        "ports: [{target: 80, published: !!str 443}]",
        "ports: ['8080:80']",
        "ports: ['80']",
    ],
    &[
        "logging: {options: {syslog-address: 'tcp://10.0.0.1:514'}}",
        "logging: {driver: json-file, options: {max-size: 10m}}",
        "oom_score_adj: ${ADJ:--500}",
        "oom_score_adj: 500",
        "ulimits: {rtprio: 99}",
        "build: {context: ., tags: ['nginx:1.27']}",
    ],
];

fn document(rng: &mut StdRng) -> String {
    let mut text = String::from("x-caps: &caps\n  cap_add: [SYS_ADMIN]\nservices:\n  other:\n    image: busybox\n  web:\n    image: busybox\n");
    for group in PIECES {
        if rng.gen_bool(0.45) {
            let piece = group[rng.gen_range(0..group.len())];
            text.push_str(&format!("    {piece}\n"));
        }
    }
    text
}

/// netfence's verdict on the file: refused in tenant mode, or the plan and its output.
fn netfence(dir: &Path) -> Result<(Project, netfence::Plan, Options, String), String> {
    let file = dir.join("compose.yml");
    let input = netfence::load::load_with(
        std::slice::from_ref(&file),
        &mut std::io::empty(),
        &netfence::load::LoadOptions {
            project_dir: Some(dir.to_path_buf()),
            environ: Some(BTreeMap::new()),
        },
    )
    .map_err(|e| format!("load: {e}"))?;
    let project = Project::new(input, None, dir).map_err(|e| e.to_string())?;
    let opts = Options {
        scope: Some(Scope::Env("prod".into())),
        project: Some("shop".into()),
        ..Options::default()
    };
    let plan = project.plan(&opts).map_err(|e| e.to_string())?;
    let out = netfence::yaml::to_string(&project.rewrite(&plan));
    Ok((project, plan, opts, out))
}

/// The tenant table on Compose's reading of the input: the escapes it does not grant.
fn compose_verdict(compose: &ComposeCmd, dir: &Path) -> Vec<String> {
    let out = compose
        .run(
            dir,
            &[dir.join("compose.yml")],
            None,
            &["config", "--format", "json"],
        )
        .expect("compose runs");
    assert!(
        out.status.success(),
        "Compose rejects a generated file:\n{}\n{}",
        std::fs::read_to_string(dir.join("compose.yml")).unwrap(),
        String::from_utf8_lossy(&out.stderr)
    );
    let source = netfence::Source::Stdin;
    let json = String::from_utf8_lossy(&out.stdout);
    let doc = netfence::load::parse_document(&source, &json).expect("Compose printed JSON");
    let policy = netfence::Policy::default();
    let scope = Scope::Env("prod".into());
    let ctx = Context {
        scope: Some(&scope),
        project: Some("shop"),
        // The Compose project name the plan gives project `shop` in `prod`.
        project_name: Some("nf-prod-shop"),
        foreign_patterns: tenant::foreign_patterns(&policy),
        project_dir: Some(dir),
        ..Context::default()
    };
    let escapes = tenant::escapes(&doc, &policy, &ctx);
    tenant::refused(&escapes)
        .into_iter()
        .map(|e| e.describe())
        .collect()
}

#[test]
fn netfence_and_compose_agree_on_generated_tenant_files() {
    let Some(compose) = ComposeCmd::find() else {
        unavailable("Docker Compose v2 not found; scripts/provision-engine.sh installs it");
        return;
    };
    let count: usize = std::env::var("NETFENCE_GENERATED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let seed: u64 = std::env::var("NETFENCE_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(16);
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..count {
        let dir = tempfile::tempdir().unwrap();
        let text = document(&mut rng);
        std::fs::write(dir.path().join("compose.yml"), &text).unwrap();
        let theirs = compose_verdict(&compose, dir.path());
        match netfence(dir.path()) {
            Err(why) => {
                refused += 1;
                assert!(
                    !theirs.is_empty(),
                    "#{i}: netfence refuses what Compose's reading shows no escape in:\n{text}\n{why}"
                );
            }
            Ok((project, plan, opts, out)) => {
                accepted += 1;
                assert!(
                    theirs.is_empty(),
                    "#{i}: netfence accepts what Compose reads as an escape:\n{text}\n{theirs:#?}"
                );
                let second = judge_with_compose(&out, &plan, &project, &opts).unwrap_or_else(|e| {
                    panic!("#{i}: Compose's reading of the output:\n{text}\n{e}")
                });
                assert_eq!(second, SecondOpinion::Agrees, "#{i}:\n{text}");
            }
        }
    }
    eprintln!("generated tenant files: {accepted} accepted, {refused} refused (seed {seed})");
    assert!(
        accepted > 0 && refused > 0,
        "the generator must make both kinds"
    );
}
