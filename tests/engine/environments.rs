//! Platform mode on a real engine: environments, proxy isolation, shared networks.
//! `rewrite --env` output deployed with plain `docker compose up -d` after `ensure`.
//! Needs Docker + Compose v2 (see support).

use crate::support::platform::*;
use crate::support::*;

fn container(env: &str, project: &str, service: &str) -> String {
    format!("nf-{env}-{project}-{service}-1")
}

/// Every IPv4 address of a container, on any network.
fn ips(c: &str) -> Vec<String> {
    attachments(c).into_values().map(|(ip, _)| ip).collect()
}

#[test]
fn environments_reach_within_and_never_across() {
    let Some(p) = Platform::start("pfenv") else {
        return;
    };
    let dir = p.fixture("stacks");
    let envs = [p.env("st"), p.env("pr")];
    for env in &envs {
        for project in ["shop", "blog"] {
            p.deploy(&dir, env, project, None);
        }
    }
    let [st, pr] = &envs;

    // Within an environment: <service>.<project> over the environment network.
    for env in &envs {
        let web = container(env, "shop", "web");
        wait_reaches(&web, "api.blog");
        assert!(reaches(&web, "db.blog"), "{web} reaches db.blog");
        let api = container(env, "blog", "api");
        wait_reaches(&api, "web.shop");
        // The environment network carries exactly the environment's containers.
        let net = inspect(&format!("nf-env-{env}"));
        let mut on: Vec<String> = net["Containers"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| c["Name"].as_str().unwrap().to_owned())
            .collect();
        on.sort();
        let mut want: Vec<String> = [
            ("blog", "api"),
            ("blog", "db"),
            ("shop", "db"),
            ("shop", "web"),
        ]
        .iter()
        .map(|(pj, s)| container(env, pj, s))
        .collect();
        want.sort();
        assert_eq!(on, want, "environment network {env}");
    }

    // Across environments: names do not resolve, addresses do not answer.
    for (from_env, to_env) in [(st, pr), (pr, st)] {
        let from = container(from_env, "shop", "web");
        assert!(resolves(&from, "api.blog"), "{from} resolves api.blog");
        let mut foreign = Vec::new();
        for (project, service) in [
            ("blog", "api"),
            ("blog", "db"),
            ("shop", "db"),
            ("shop", "web"),
        ] {
            let target = container(to_env, project, service);
            assert!(
                !resolves(&from, &target),
                "{from} must not resolve {target}"
            );
            let target_ips = ips(&target);
            // The alias resolves, but only to this environment's service.
            let alias = format!("{service}.{project}");
            let (_, answer) = exec(&from, &format!("nslookup {alias}"));
            let own = ips(&container(from_env, project, service));
            assert!(
                own.iter()
                    .any(|ip| answer.contains(&format!("Address: {ip}"))),
                "{alias} from {from} answers with its own environment's service:\n{answer}"
            );
            for ip in &target_ips {
                assert!(
                    !answer.contains(&format!("Address: {ip}")),
                    "{alias} from {from} answered with {to_env}'s {ip}:\n{answer}"
                );
            }
            foreign.extend(target_ips);
        }
        let own_api = ips(&container(from_env, "blog", "api"));
        assert!(
            !answering(&from, &own_api).is_empty(),
            "the probe works: {from} reaches its own environment's api at one of {own_api:?}"
        );
        let answered = answering(&from, &foreign);
        assert!(
            answered.is_empty(),
            "{from} must not reach {to_env}'s containers, but {answered:?} answered"
        );
    }

    // `down --env` removes one environment by its labels, without the files; the other
    // is untouched.
    p.netfence_ok(&dir, &["down", "--env", st]);
    assert!(leftovers_of(&format!("env:{st}")).is_empty());
    assert!(networks_named(&format!("nf-env-{st}")).is_empty());
    assert_eq!(
        leftovers_of(&format!("env:{pr}")).len(),
        7,
        "{pr}: 4 containers, 3 networks"
    );
}

#[test]
fn proxy_reaches_only_public_services_and_labels_name_its_network() {
    let Some(p) = Platform::start("pfproxy") else {
        return;
    };
    let dir = p.fixture("stacks");
    // Traefik for one environment (both projects), caddy-docker-proxy for another.
    let cases = [
        (
            p.env("tx"),
            "policy-traefik.yml",
            "traefik",
            "traefik.docker.network",
            vec!["shop", "blog"],
        ),
        (
            p.env("cx"),
            "policy-caddy.yml",
            "caddy",
            "caddy_ingress_network",
            vec!["blog"],
        ),
    ];
    for (env, policy, kind, label_key, projects) in &cases {
        let proxy_net = format!("nfp-{}-{kind}", p.id());
        p.guard_network(&proxy_net);
        if *kind == "traefik" {
            p.guard_network(&format!("nfp-{}-infra", p.id()));
        }
        for project in projects {
            p.deploy(&dir, env, project, Some(policy));
        }
        // The stand-in proxy: a busybox container on the proxy network only.
        let proxy = format!("nfp-{}-{kind}-standin", p.id());
        docker_ok(&[
            "run",
            "-d",
            "--name",
            &proxy,
            "--network",
            &proxy_net,
            "--label",
            &format!("io.netfence.scope=env:{env}"),
            IMAGE,
            "sleep",
            "600",
        ]);
        let public: Vec<String> = projects
            .iter()
            .map(|pj| container(env, pj, if *pj == "shop" { "web" } else { "api" }))
            .collect();
        let private: Vec<String> = projects.iter().map(|pj| container(env, pj, "db")).collect();
        for c in &public {
            assert!(resolves(&proxy, c), "the proxy resolves {c}");
            wait_reaches(&proxy, c);
            let ip = &attachments(c)[&proxy_net].0;
            assert!(reaches(&proxy, ip), "proxy reaches {c} at {ip}");
            assert_eq!(
                label(c, label_key).as_deref(),
                Some(proxy_net.as_str()),
                "{c}: {label_key} names the proxy network's real name"
            );
        }
        if *kind == "traefik" {
            // The router the tenant called `shop` is its project's own in the shared proxy.
            let web = container(env, "shop", "web");
            let own = format!("traefik.http.routers.shop-nf-{env}-shop.rule");
            assert!(label(&web, &own).is_some(), "{web} carries {own}");
            assert_eq!(label(&web, "traefik.http.routers.shop.rule"), None, "{web}");
        }
        for c in &private {
            assert!(!resolves(&proxy, c), "the proxy must not resolve {c}");
            for ip in ips(c) {
                assert!(
                    !reaches(&proxy, &ip),
                    "the proxy must not reach {c} at {ip}; what holds that address:{}",
                    who_has(&proxy, &ip)
                );
            }
            assert_eq!(label(c, label_key), None, "{c} is private: no {label_key}");
        }
        // Nothing but the public services (and the proxy) is on the proxy network.
        let net = inspect(&proxy_net);
        let mut on: Vec<String> = net["Containers"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| c["Name"].as_str().unwrap().to_owned())
            .collect();
        on.sort();
        let mut want = public.clone();
        want.push(proxy.clone());
        want.sort();
        assert_eq!(on, want, "containers on {proxy_net}");
    }
}

#[test]
fn shared_network_is_joined_only_by_the_services_the_policy_names() {
    let Some(p) = Platform::start("pfshared") else {
        return;
    };
    let dir = p.fixture("stacks");
    let env = p.env("sx");
    let shared = format!("nfp-{}-infra", p.id());
    p.guard_network(&shared);
    p.guard_network(&format!("nfp-{}-traefik", p.id()));
    for project in ["shop", "blog"] {
        p.deploy(&dir, &env, project, Some("policy-traefik.yml"));
    }
    let net = inspect(&shared);
    assert_eq!(net["Labels"]["io.netfence.role"], "shared");
    let mut on: Vec<String> = net["Containers"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["Name"].as_str().unwrap().to_owned())
        .collect();
    on.sort();
    assert_eq!(
        on,
        vec![container(&env, "blog", "db"), container(&env, "shop", "db")],
        "only the policy's `db` services join {shared}"
    );
    // `reconcile` and `rewrite` agree: a fenced deploy has nothing to reconcile.
    for project in ["shop", "blog"] {
        let file = format!("{project}.yml");
        let steps = p.netfence_ok(
            &dir,
            &[
                "reconcile",
                "-p",
                project,
                "--env",
                &env,
                "--policy",
                "policy-traefik.yml",
                "-f",
                &file,
                "--format",
                "json",
                "--strict",
            ],
        );
        assert_eq!(steps.trim(), "[]", "{project}");
    }
    // Over it, one project's db reaches the other's.
    let from = container(&env, "shop", "db");
    let to = container(&env, "blog", "db");
    let ip = &attachments(&to)[&shared].0;
    wait_reaches(&from, ip);
}

/// Removes an image the test built, whatever the test's outcome.
struct BuiltImage(String);

impl Drop for BuiltImage {
    fn drop(&mut self) {
        docker(&["image", "rm", "-f", &self.0]);
    }
}

/// A tenant's build that Compose would name as another project's could be named
/// (`shop`'s `db-web` is `shop-db`'s `web`) is built, by plain `docker compose up`,
/// under the name the closed output gives it, and runs.
#[test]
fn an_ambiguously_named_build_is_built_under_the_closed_outputs_name() {
    let Some(p) = Platform::start("pfbuild") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shop.yml"),
        "services:\n  db-web:\n    build:\n      context: .\n      dockerfile_inline: \"FROM netfence-busybox:latest\\nCMD [\\\"sleep\\\", \\\"600\\\"]\\n\"\n",
    )
    .unwrap();
    let env = p.env("bd");
    let image = format!("nf-{env}-shop/db-web");
    let _built = BuiltImage(image.clone());
    p.deploy(dir.path(), &env, "shop", None);
    let c = inspect(&container(&env, "shop", "db-web"));
    assert_eq!(c["Config"]["Image"].as_str(), Some(image.as_str()), "{c}");
    assert_eq!(c["State"]["Running"].as_bool(), Some(true), "{c}");
    let compose_name = format!("nf-{env}-shop-db-web");
    assert!(
        !docker(&["image", "inspect", &compose_name])
            .status
            .success(),
        "nothing is built under Compose's ambiguous name {compose_name}"
    );
}
