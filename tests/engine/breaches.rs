//! Breaches made around netfence, on a real engine: containers deployed by hand that
//! cross from one environment into another are named by `verify` from both sides, and
//! `down` of one environment never removes a container another environment owns.
//! Needs Docker + Compose v2 (see support).

use crate::binary::Outcome;
use crate::support::platform::*;
use crate::support::*;

/// `docker run -d` of a container labelled as production's (`env:<env>`), as a tenant's
/// deploy made around netfence would be, with more `docker run` arguments.
fn run_as(env: &str, name: &str, args: &[&str], command: &[&str]) {
    let scope = format!("io.netfence.scope=env:{env}");
    let project = format!("com.docker.compose.project=nf-{env}-intruder");
    let service = format!("com.docker.compose.service={name}");
    let container = format!("nf-{env}-intruder-{name}-1");
    let mut all = vec![
        "run",
        "-d",
        "--name",
        &container,
        "--label",
        "io.netfence.managed=true",
        "--label",
        &scope,
        "--label",
        &project,
        "--label",
        &service,
    ];
    all.extend(args);
    all.push(IMAGE);
    all.extend(command);
    docker_ok(&all);
}

fn verify_env(p: &Platform, dir: &std::path::Path, env: &str, extra: &[&str]) -> Outcome {
    let mut args = vec!["verify", "--env", env];
    args.extend(extra);
    p.netfence_in(dir, &args)
}

/// The lines of `err` that name a difference and contain every one of `words`.
fn names(err: &str, words: &[&str]) -> bool {
    err.lines()
        .any(|l| l.starts_with("  ") && words.iter().all(|w| l.contains(w)))
}

#[test]
fn a_tenant_deploy_around_netfence_is_named_from_both_environments() {
    let Some(p) = Platform::start("brv") else {
        return;
    };
    let dir = p.fixture("stacks");
    let (st, pr) = (p.env("st"), p.env("pr"));
    p.netfence_ok(&dir, &["ensure", "--env", &pr]);
    // Project A (shop), fenced into staging and deployed.
    p.deploy(&dir, &st, "shop", None);
    let db = format!("nf-{st}-shop-db-1");
    let staging_net = format!("nf-env-{st}");
    // Around netfence, from production's scope: one container joins staging's
    // environment network (an `external: true` network of that name), another runs in
    // the network namespace of A's database (`network_mode: container:<db>`).
    run_as(
        &pr,
        "spy",
        &["--network", &staging_net],
        &["nc", "-ll", "-p", "8080", "-e", "echo", "hello"],
    );
    let ns_mode = format!("container:{db}");
    run_as(&pr, "tap", &["--network", &ns_mode], &["sleep", "600"]);
    let spy = format!("nf-{pr}-intruder-spy-1");
    let tap = format!("nf-{pr}-intruder-tap-1");

    // Staging's side, from the labels and from A's plan: a stranger on its environment
    // network, and one in its database's namespace.
    for extra in [vec![], vec!["-f", "shop.yml", "-p", "shop"]] {
        let err = verify_env(&p, &dir, &st, &extra).code(1).stderr();
        assert!(
            names(
                &err,
                &[
                    &format!("members {staging_net}"),
                    &spy,
                    &format!("env:{pr}")
                ]
            ),
            "{extra:?}: names the container on staging's network:\n{err}"
        );
        assert!(
            names(&err, &["namespace db", &db, &tap, &format!("env:{pr}")]),
            "{extra:?}: names the container in db's namespace:\n{err}"
        );
    }
    // Production's side: its container on staging's network, and its container in
    // staging's database's namespace.
    let err = verify_env(&p, &dir, &pr, &[]).code(1).stderr();
    assert!(
        names(
            &err,
            &[
                &format!("external {staging_net}"),
                &spy,
                &format!("the environment network of env:{st}")
            ]
        ),
        "names the network production has no business on:\n{err}"
    );
    assert!(
        names(
            &err,
            &[
                "escape tap",
                &format!("network namespace of container {db}")
            ]
        ),
        "names the namespace production's container joined:\n{err}"
    );

    // With traffic: staging's containers reach the stranger, which is the breach.
    let out = verify_env(&p, &dir, &st, &["--probe-image", IMAGE, "--format", "json"]);
    let report = out.json();
    out.code(1);
    let breached: Vec<&serde_json::Value> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["check"].as_str().unwrap().starts_with("probe ")
                && r["subject"].as_str().unwrap().contains(&spy)
                && r["expected"] == "no answer"
                && r["observed"].as_str().unwrap().starts_with("answers")
        })
        .collect();
    assert!(
        !breached.is_empty() && breached.iter().all(|r| r["ok"] == false),
        "the stranger answers, and that is a difference: {report:#}"
    );

    // Without them both environments verify clean again: the rules name intruders, not
    // neighbours.
    docker_ok(&["rm", "-f", &spy, &tap]);
    verify_env(&p, &dir, &st, &[]).success();
    verify_env(&p, &dir, &st, &["-f", "shop.yml", "-p", "shop"]).success();
    verify_env(&p, &dir, &pr, &[]).success();
}

#[test]
fn down_of_one_environment_never_removes_another_environments_container() {
    let Some(p) = Platform::start("brd") else {
        return;
    };
    let dir = p.fixture("stacks");
    let (st, pr) = (p.env("st"), p.env("pr"));
    p.netfence_ok(&dir, &["ensure", "--env", &st]);
    let staging_net = format!("nf-env-{st}");
    // Production's container on staging's network: staging's `down` leaves it, and so
    // the network it holds, and says so.
    run_as(&pr, "spy", &["--network", &staging_net], &["sleep", "600"]);
    let spy = format!("nf-{pr}-intruder-spy-1");
    let err = p
        .netfence_in(&dir, &["down", "--env", &st])
        .code(3)
        .stderr();
    assert!(
        err.contains(&format!("container {spy} (env:{pr})")) && err.contains("leaves alone"),
        "{err}"
    );
    assert!(
        docker(&["inspect", &spy]).status.success(),
        "{spy} is production's"
    );
    docker_ok(&["rm", "-f", &spy]);
    p.netfence_ok(&dir, &["down", "--env", &st]);
    assert!(leftovers_of(&format!("env:{st}")).is_empty());

    // A file that labels its service as staging's, twice: in tenant mode refused; with
    // tenant mode off, fenced into production, every duplicate replaced, so the container
    // is production's and staging's `down` does not see it.
    let forged = format!(
        "services:\n  app:\n    image: {IMAGE}\n    command: [sleep, '600']\n    labels:\n      \
         - io.netfence.scope=env:{st}\n      - keep=1\n      - io.netfence.scope=env:{st}\n"
    );
    std::fs::write(dir.join("forged.yml"), forged).unwrap();
    std::fs::write(dir.join("trusted.yml"), "tenant: {enabled: false}\n").unwrap();
    let rewrite = |policy: &[&str]| {
        let mut args = vec!["rewrite", "-f", "forged.yml", "--env", &pr, "-p", "forged"];
        args.extend(policy);
        p.netfence_in(&dir, &args)
    };
    let err = rewrite(&[]).code(2).stderr();
    assert!(err.contains("io.netfence.scope"), "{err}");
    let fenced = rewrite(&["--policy", "trusted.yml"]).success().stdout();
    // (The list form is the service's; the network's labels are a map.)
    assert_eq!(
        fenced
            .matches("io.netfence.scope=")
            .collect::<Vec<_>>()
            .len(),
        1,
        "one scope label, production's:\n{fenced}"
    );
    assert!(
        fenced.contains(&format!("io.netfence.scope=env:{pr}")),
        "{fenced}"
    );
    std::fs::write(dir.join("forged.fenced.yml"), &fenced).unwrap();
    p.netfence_ok(&dir, &["ensure", "--env", &pr, "--policy", "trusted.yml"]);
    p.compose_up(&dir, "forged.fenced.yml", None);
    let app = format!("nf-{pr}-forged-app-1");
    assert_eq!(
        label(&app, "io.netfence.scope").as_deref(),
        Some(format!("env:{pr}").as_str())
    );
    p.netfence_ok(&dir, &["down", "--env", &st]);
    assert!(
        docker(&["inspect", &app]).status.success(),
        "staging's down leaves production's {app}"
    );
    p.netfence_ok(&dir, &["down", "--env", &pr]);
    assert!(
        !docker(&["inspect", &app]).status.success(),
        "production's down removes {app}"
    );
}
