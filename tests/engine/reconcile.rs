//! `netfence reconcile` on a real engine: a project a platform deployed from the unfenced
//! file (every service on the platform's flat network) is fenced afterwards; its
//! attachments then equal the plan, `--strict` takes it off the flat network, and a
//! second run has nothing to do; without `-f` the files come from the project's own labels.
//! Needs Docker + Compose v2 (see support).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::platform::*;
use crate::support::*;

/// The plan's attachments: service → {real network name}.
fn planned(p: &Platform, dir: &Path, base: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let mut args = vec!["plan", "--format", "json"];
    args.extend(base);
    let plan: serde_json::Value = serde_json::from_str(&p.netfence_ok(dir, &args)).unwrap();
    let real: BTreeMap<String, String> = plan["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["key"].as_str().unwrap().to_owned(),
                n["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    plan["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["attachments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| real[a["network"].as_str().unwrap()].clone())
                    .collect(),
            )
        })
        .collect()
}

fn steps(p: &Platform, dir: &Path, base: &[&str], extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["reconcile", "--format", "json"];
    args.extend(base);
    args.extend(extra);
    serde_json::from_str::<serde_json::Value>(&p.netfence_ok(dir, &args))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn reconcile_fences_a_project_deployed_unfenced() {
    let Some(p) = Platform::start("pfrec") else {
        return;
    };
    let dir = p.fixture("reconcile");
    let env = p.env("rc");
    let project = format!("rcp{}", p.id().replace('-', ""));
    let flat = format!("nfp-{}-flat", p.id());
    let proxy = format!("nfp-{}-proxy", p.id());
    let infra = format!("nfp-{}-infra", p.id());
    for n in [&flat, &proxy, &infra] {
        p.guard_network(n);
    }
    // The platform's flat network, and the project deployed as written.
    docker_ok(&["network", "create", &flat]);
    p.compose_up(&dir, "compose.yml", Some(&project));
    let web = format!("{project}-web-1");
    let db = format!("{project}-db-1");
    let compose_net = format!("{project}_default");
    // A private service that somehow sits on the proxy network (ensure made it).
    p.netfence_ok(&dir, &["ensure", "--env", &env, "--policy", "policy.yml"]);
    docker_ok(&["network", "connect", &proxy, &db]);
    let before = [attachments(&web), attachments(&db)];

    let base = [
        "-p",
        &project,
        "--env",
        &env,
        "--policy",
        "policy.yml",
        "-f",
        "compose.yml",
    ];
    // --dry-run prints the steps and changes nothing.
    let dry = steps(&p, &dir, &base, &["--dry-run"]);
    assert!(!dry.is_empty());
    assert_eq!([attachments(&web), attachments(&db)], before);

    let applied = steps(&p, &dir, &base, &[]);
    assert_eq!(applied, dry, "the dry run showed what was applied");
    let env_net = format!("nf-env-{env}");
    let want = |c: &str, net: &str| {
        applied
            .iter()
            .any(|s| s["action"] == "connect" && s["container"] == c && s["network"] == net)
    };
    assert!(want(&web, &proxy) && want(&web, &env_net), "{applied:#?}");
    assert!(want(&db, &infra) && want(&db, &env_net), "{applied:#?}");
    assert!(
        !want(&db, &proxy),
        "a private service never joins the proxy network"
    );
    assert!(
        applied.iter().any(|s| s["action"] == "disconnect"
            && s["container"] == db.as_str()
            && s["network"] == proxy.as_str()),
        "and leaves it: {applied:#?}"
    );

    // Attachments equal the plan; the project's own network stands for `default`.
    let plan = planned(&p, &dir, &base);
    for (c, service) in [(&web, "web"), (&db, "db")] {
        let live: BTreeSet<String> = attachments(c)
            .into_keys()
            .map(|n| {
                if n == compose_net {
                    format!("nf-{env}-{project}-default")
                } else {
                    n
                }
            })
            .collect();
        assert_eq!(live, plan[service], "{c} attachments equal the plan");
    }
    let env_aliases = &attachments(&web)[&env_net].1;
    assert!(
        env_aliases.contains(&format!("web.{project}")),
        "{env_aliases:?}"
    );
    let infra_aliases = &attachments(&db)[&infra].1;
    assert!(
        infra_aliases.contains(&"shared-db".to_owned()),
        "{infra_aliases:?}"
    );
    // Another resource of the environment reaches web as <service>.<project>.
    let other = format!("nfp-{}-other", p.id());
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &other,
        "--network",
        &env_net,
        "--label",
        &format!("io.netfence.scope=env:{env}"),
        IMAGE,
        "sleep",
        "600",
    ]);
    wait_reaches(&other, &format!("web.{project}"));

    // Without --strict the flat network stays; with it, it goes.
    assert_eq!(steps(&p, &dir, &base, &[]), Vec::<serde_json::Value>::new());
    let strict = steps(&p, &dir, &base, &["--strict"]);
    assert_eq!(strict.len(), 2, "{strict:#?}");
    for s in &strict {
        assert_eq!(s["action"], "disconnect");
        assert_eq!(s["network"], flat.as_str());
    }
    for c in [&web, &db] {
        assert!(!attachments(c).contains_key(&flat), "{c} left {flat}");
    }
    assert_eq!(
        steps(&p, &dir, &base, &["--strict"]),
        Vec::<serde_json::Value>::new(),
        "a second reconcile has no steps"
    );
    let out = p.netfence_in(
        &dir,
        &["reconcile", "--format", "json", "--strict"]
            .iter()
            .chain(base.iter())
            .copied()
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.stdout().trim(), "[]");
}

/// Without `-f`, from a directory that has nothing to do with the project, `reconcile`
/// reads the files the project was started from (Compose's labels on its containers),
/// its `include:` too, and fences every service; a project with no container is bad
/// input, never "nothing to do".
#[test]
fn reconcile_without_f_reads_the_files_the_project_was_started_from() {
    let Some(p) = Platform::start("pfrlab") else {
        return;
    };
    let dir = p.fixture("reconcile");
    let env = p.env("rl");
    let project = format!("rlp{}", p.id().replace('-', ""));
    let proxy = format!("nfp-{}-proxy", p.id());
    let infra = format!("nfp-{}-infra", p.id());
    for n in [&proxy, &infra] {
        p.guard_network(n);
    }
    let stack = dir.join("stack");
    std::fs::create_dir_all(stack.join("db")).unwrap();
    std::fs::write(
        stack.join("compose.yml"),
        format!(
            "include: [db/db.yml]\nservices:\n  web:\n    image: {IMAGE}\n    command: [sleep, '600']\n    labels: {{traefik.enable: 'true'}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        stack.join("db/db.yml"),
        format!("services:\n  db:\n    image: {IMAGE}\n    command: [sleep, '600']\n"),
    )
    .unwrap();
    p.netfence_ok(&dir, &["ensure", "--env", &env, "--policy", "policy.yml"]);
    p.compose_up(&stack, "compose.yml", Some(&project));
    let (web, db) = (format!("{project}-web-1"), format!("{project}-db-1"));

    let policy = dir.join("policy.yml").display().to_string();
    let base = ["-p", &project, "--env", &env, "--policy", &policy];
    let elsewhere = tempfile::tempdir().unwrap();
    let out = p.netfence_in(
        elsewhere.path(),
        &["reconcile", "--format", "json"]
            .iter()
            .chain(base.iter())
            .copied()
            .collect::<Vec<_>>(),
    );
    out.success()
        .stderr_has(&stack.join("compose.yml").display().to_string());
    let applied = out.json();
    let env_net = format!("nf-env-{env}");
    let connects = |c: &str, net: &str| {
        applied
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["action"] == "connect" && s["container"] == c && s["network"] == net)
    };
    assert!(
        connects(&web, &proxy) && connects(&web, &env_net),
        "{applied:#}"
    );
    assert!(
        connects(&db, &infra) && connects(&db, &env_net),
        "the included service is fenced too: {applied:#}"
    );

    // What was applied is the plan of the file itself.
    let file = stack.join("compose.yml").display().to_string();
    let mut with_file = base.to_vec();
    with_file.extend(["-f", &file]);
    let plan = planned(&p, elsewhere.path(), &with_file);
    let compose_net = format!("{project}_default");
    for (c, service) in [(&web, "web"), (&db, "db")] {
        let live: BTreeSet<String> = attachments(c)
            .into_keys()
            .map(|n| {
                if n == compose_net {
                    format!("nf-{env}-{project}-default")
                } else {
                    n
                }
            })
            .collect();
        assert_eq!(live, plan[service], "{c} attachments equal the plan");
    }
    assert_eq!(
        steps(&p, elsewhere.path(), &base, &[]),
        Vec::<serde_json::Value>::new(),
        "a second reconcile has no steps"
    );

    let nothing = format!("rlnone{}", p.id().replace('-', ""));
    p.netfence_in(
        elsewhere.path(),
        &[
            "reconcile",
            "-p",
            &nothing,
            "--env",
            &env,
            "--policy",
            &policy,
        ],
    )
    .code(2)
    .stderr_has(&format!("com.docker.compose.project={nothing}"))
    .stderr_lacks("nothing to do");
}
