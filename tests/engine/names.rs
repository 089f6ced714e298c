//! Rule 13 on a real engine: two projects (or two runs) with the same service names, on
//! networks they share whose names sort before and after their own. From every
//! container, every bare name answers only from its own project; qualified names cross
//! as planned; `verify` reports no difference. On an engine that orders a container's
//! networks by name alone (before 28), `rewrite` says so and `verify` names what can
//! cross.

use std::collections::BTreeSet;

use crate::support::platform::*;
use crate::support::*;

/// Does the engine under test take endpoint priorities into account (Docker 28+)?
fn orders_by_priority() -> bool {
    engine_major() >= 28
}

/// Every address `name` resolves to from `from`, over several lookups (the engine
/// rotates its answers).
fn answers(from: &str, name: &str) -> BTreeSet<String> {
    let (_, out) = exec(
        from,
        &format!("for i in 1 2 3 4 5 6; do nslookup -type=a {name}. 2>/dev/null; done"),
    );
    let mut got = BTreeSet::new();
    let mut after_name = false;
    for line in out.lines() {
        if line.starts_with("Name:") {
            after_name = true;
        } else if let (true, Some(a)) = (after_name, line.strip_prefix("Address:")) {
            got.insert(a.trim().to_owned());
        } else if line.trim().is_empty() {
            after_name = false;
        }
    }
    got
}

fn ips(c: &str) -> BTreeSet<String> {
    attachments(c).into_values().map(|(ip, _)| ip).collect()
}

/// Every lookup of a bare name from `containers` (project, its containers by service)
/// that an other project's container answered: `from → name: addresses`.
fn crossings(groups: &[(&str, Vec<(&str, String)>)]) -> Vec<String> {
    let mut out = Vec::new();
    for (project, members) in groups {
        for (_, from) in members {
            for (name, target) in members {
                let got = answers(from, name);
                assert!(!got.is_empty(), "{from}: `{name}` does not resolve at all");
                let own = ips(target);
                let strangers: Vec<&String> = got.difference(&own).collect();
                if !strangers.is_empty() {
                    out.push(format!(
                        "{project}: {from} → `{name}`: {strangers:?} (own: {own:?})"
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn bare_names_answer_from_their_own_project_in_environments_sorting_either_side() {
    let Some(p) = Platform::start("nmenv") else {
        return;
    };
    let dir = p.fixture("names");
    p.guard_network(&format!("nfp-{}-traefik", p.id()));
    p.guard_network(&format!("a-{}-infra", p.id()));
    let by_priority = orders_by_priority();
    for prefix in ["aa", "zz"] {
        let env = p.env(prefix);
        for project in ["alpha", "beta"] {
            p.deploy(&dir, &env, project, Some("policy.yml"));
        }
        let c = |project: &str, service: &str| format!("nf-{env}-{project}-{service}-1");
        for project in ["alpha", "beta"] {
            wait_reaches(&c(project, "api"), "db");
        }
        let groups: Vec<(&str, Vec<(&str, String)>)> = ["alpha", "beta"]
            .into_iter()
            .map(|pj| (pj, vec![("api", c(pj, "api")), ("db", c(pj, "db"))]))
            .collect();
        let crossed = crossings(&groups);

        // Qualified names cross, to the one service they name.
        let beta_db = answers(&c("alpha", "api"), "db.beta");
        assert!(
            !beta_db.is_empty() && beta_db.is_subset(&ips(&c("beta", "db"))),
            "db.beta from alpha's api: {beta_db:?}"
        );

        let verify = p.netfence_in(
            &dir,
            &[
                "verify",
                "--env",
                &env,
                "--policy",
                "policy.yml",
                "--probe-image",
                IMAGE,
            ],
        );
        let rewrite = p.netfence_in(
            &dir,
            &[
                "rewrite",
                "-f",
                "alpha.yml",
                "--env",
                &env,
                "-p",
                "alpha",
                "--policy",
                "policy.yml",
            ],
        );
        rewrite.success();
        if by_priority {
            assert!(
                crossed.is_empty(),
                "{env}: bare names crossed projects:\n{crossed:#?}"
            );
            let out = verify.stdout();
            assert!(
                verify.status().code() == Some(0),
                "{env}: verify\n{out}\n{}",
                verify.stderr()
            );
            // The engine's own answers were asked from inside every container.
            let asked = out
                .lines()
                .filter(|l| l.contains("names asked from"))
                .count();
            assert_eq!(asked, 4, "{env}: one DNS row per container:\n{out}");
            assert!(
                !rewrite
                    .stderr()
                    .contains("orders a container's networks by name"),
                "no caveat on an engine that orders by priority: {}",
                rewrite.stderr()
            );
        } else {
            // Alpha's api has three networks of its own kind: an engine before 28 is
            // sure only of the first, which does not hold `db`.
            assert!(
                rewrite
                    .stderr()
                    .contains("orders a container's networks by name, not by priority"),
                "{env}: the caveat on this engine: {}",
                rewrite.stderr()
            );
            let err = verify.stderr();
            assert_eq!(verify.status().code(), Some(1), "{env}: verify\n{err}");
            assert!(
                err.lines()
                    .any(|l| l.contains("bare names from") && l.contains("`db`")),
                "{env}: verify names where `db` may cross:\n{err}"
            );
            // Whatever crossed, the engine's own answer from inside the container says
            // so too.
            for line in &crossed {
                let from = line.split(' ').nth(1).unwrap_or_default();
                let service = from.rsplit('-').nth(1).unwrap_or_default();
                assert!(
                    err.lines().any(|l| l.contains("names asked from")
                        && l.contains(service)
                        && l.contains("which is")),
                    "{env}: {line}: verify's DNS rows name it:\n{err}"
                );
            }
        }
    }
}

#[test]
fn bare_names_answer_from_their_own_run_beside_another_run_on_a_shared_network() {
    let Some(p) = Platform::start("nmrun") else {
        return;
    };
    let dir = p.fixture("names");
    p.guard_network(&format!("a-{}-infra", p.id()));
    let runs = [p.e2e.run_id("one"), p.e2e.run_id("two")];
    for r in &runs {
        let args = [
            "run",
            "--keep",
            "--run-id",
            r,
            "--policy",
            "policy-run.yml",
            "-f",
            "beta.yml",
            "-p",
            "beta",
            "--",
            "true",
        ];
        p.netfence_ok(&dir, &args);
    }
    let c = |run: &str, service: &str| format!("nf-{run}-beta-{service}-1");
    for r in &runs {
        wait_reaches(&c(r, "api"), "db");
    }
    let groups: Vec<(&str, Vec<(&str, String)>)> = runs
        .iter()
        .map(|r| (r.as_str(), vec![("api", c(r, "api")), ("db", c(r, "db"))]))
        .collect();
    let crossed = crossings(&groups);
    let by_priority = orders_by_priority();
    if by_priority {
        assert!(crossed.is_empty(), "bare names crossed runs:\n{crossed:#?}");
    } else {
        // The shared network sorts first: `db` from an api answers from both runs.
        assert!(
            !crossed.is_empty(),
            "this engine orders by name; the fixture's names must cross"
        );
    }
    for r in &runs {
        let args = [
            "verify",
            "--run-id",
            r,
            "--policy",
            "policy-run.yml",
            "--probe-image",
            IMAGE,
        ];
        let verify = p.netfence_in(&dir, &args);
        let want = if by_priority { 0 } else { 1 };
        verify.code(want);
        if !by_priority {
            let err = verify.stderr();
            assert!(err.contains("bare names from"), "{err}");
            assert!(
                err.lines()
                    .any(|l| l.contains("names asked from api") && l.contains("`db` answered")),
                "the engine's own answer from inside the api names the other run's db:\n{err}"
            );
        } else {
            let out = verify.stdout();
            assert!(out.contains("names asked from api"), "{out}");
        }
    }
}
