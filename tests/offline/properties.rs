//! Properties of fencing over generated compose files (proptest), and a fuzz-style
//! check that no input, however malformed, makes netfence panic.

use std::collections::BTreeSet;

use netfence::plan::Role;
use netfence::{fence_str, Options, Scope};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

#[derive(Debug, Clone)]
struct Svc {
    networks: Vec<usize>,
    container_name: bool,
    port: Option<u16>,
    host_mode: bool,
    map_form: bool,
}

#[derive(Debug, Clone)]
struct Stack {
    networks: Vec<(bool, bool)>, // (fixed name, fixed subnet)
    services: Vec<Svc>,
    pool: bool,
}

fn stack() -> impl Strategy<Value = Stack> {
    (0usize..5).prop_flat_map(|n_nets| {
        let svc = (
            proptest::collection::vec(0..n_nets.max(1), 0..=n_nets),
            any::<bool>(),
            proptest::option::of(1024u16..9000),
            prop::bool::weighted(0.1),
            any::<bool>(),
        )
            .prop_map(
                move |(mut networks, container_name, port, host_mode, map_form)| {
                    if n_nets == 0 {
                        networks.clear();
                    }
                    networks.sort_unstable();
                    networks.dedup();
                    Svc {
                        networks,
                        container_name,
                        port,
                        host_mode,
                        map_form,
                    }
                },
            );
        (
            proptest::collection::vec((any::<bool>(), any::<bool>()), n_nets),
            proptest::collection::vec(svc, 1..7),
            any::<bool>(),
        )
            .prop_map(|(networks, services, pool)| Stack {
                networks,
                services,
                pool,
            })
    })
}

fn render(s: &Stack) -> String {
    let mut y = String::from("services:\n");
    for (i, svc) in s.services.iter().enumerate() {
        y.push_str(&format!("  s{i}:\n    image: img{i}\n"));
        if svc.container_name {
            y.push_str(&format!("    container_name: fixed-{i}\n"));
        }
        if let Some(p) = svc.port {
            y.push_str(&format!("    ports: [\"${{P{i}:-{p}}}:80\"]\n"));
        }
        if svc.host_mode {
            y.push_str("    network_mode: host\n");
        } else if !svc.networks.is_empty() {
            if svc.map_form {
                y.push_str("    networks:\n");
                for n in &svc.networks {
                    y.push_str(&format!("      n{n}: {{}}\n"));
                }
            } else {
                let list: Vec<String> = svc.networks.iter().map(|n| format!("n{n}")).collect();
                y.push_str(&format!("    networks: [{}]\n", list.join(", ")));
            }
        }
    }
    if !s.networks.is_empty() {
        y.push_str("networks:\n");
        for (i, (name, subnet)) in s.networks.iter().enumerate() {
            y.push_str(&format!("  n{i}:\n"));
            if *name {
                y.push_str(&format!("    name: fixed-net-{i}\n"));
            }
            if *subnet {
                y.push_str(&format!(
                    "    ipam:\n      config:\n        - subnet: 172.{}.0.0/16\n",
                    20 + i
                ));
            }
        }
    }
    y
}

fn policy(s: &Stack) -> Option<&'static str> {
    s.pool
        .then_some("subnets: { pool: 10.90.0.0/16, prefix_length: 24 }\n")
}

/// The same policy for a user re-scoping their own output: tenant mode would refuse the
/// record of another scope.
fn trusted(s: &Stack) -> String {
    format!("{}tenant: {{ enabled: false }}\n", policy(s).unwrap_or(""))
}

fn opts(id: &str) -> Options {
    Options {
        scope: Some(Scope::Run(id.into())),
        project: Some("prop".into()),
        ..Options::default()
    }
}

/// Pairs of services that can reach each other: they share a network key.
fn sharing(s: &Stack) -> BTreeSet<(usize, usize)> {
    let nets = |svc: &Svc| -> BTreeSet<String> {
        if svc.host_mode {
            BTreeSet::new()
        } else if svc.networks.is_empty() {
            BTreeSet::from(["default".to_owned()])
        } else {
            svc.networks.iter().map(|n| format!("n{n}")).collect()
        }
    };
    let mut out = BTreeSet::new();
    for i in 0..s.services.len() {
        for j in i + 1..s.services.len() {
            if !nets(&s.services[i]).is_disjoint(&nets(&s.services[j])) {
                out.insert((i, j));
            }
        }
    }
    out
}

proptest! {
    // Past failures are kept beside this file, in properties.proptest-regressions (the
    // default would look for a proptest-regressions/ directory beside tests/offline/,
    // which holds a main.rs).
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::with_cases(200)
    })]

    #[test]
    fn fencing_is_idempotent_and_rescopes_cleanly(s in stack()) {
        let text = render(&s);
        let (_, out) = fence_str(&text, policy(&s), &opts("alpha")).unwrap();
        let (_, again) = fence_str(&out, policy(&s), &opts("alpha")).unwrap();
        prop_assert_eq!(&again, &out);
        let (_, direct) = fence_str(&text, policy(&s), &opts("beta")).unwrap();
        let (_, rescoped) = fence_str(&out, policy(&s), &opts("beta")).unwrap();
        prop_assert_eq!(&rescoped, &direct);
        prop_assert!(!rescoped.contains("alpha"), "old scope left in re-scoped output");
        // Across kinds: the run's output deployed to an environment, as if from the original.
        let env = Options { scope: Some(Scope::Env("prod".into())), project: Some("prop".into()), ..Options::default() };
        let (_, env_direct) = fence_str(&text, Some(&trusted(&s)), &env).unwrap();
        let (_, trusted_out) = fence_str(&text, Some(&trusted(&s)), &opts("alpha")).unwrap();
        let (_, env_rescoped) = fence_str(&trusted_out, Some(&trusted(&s)), &env).unwrap();
        prop_assert_eq!(&env_rescoped, &env_direct);
        // In tenant mode (an environment's default) that record of a run is refused.
        let refused = fence_str(&out, policy(&s), &env).unwrap_err();
        prop_assert!(refused.to_string().contains("x-netfence.fenced"), "{}", refused);
    }

    #[test]
    fn managed_networks_have_unique_names_and_disjoint_subnets(s in stack()) {
        let (plan, _) = fence_str(&render(&s), policy(&s), &opts("gamma")).unwrap();
        let managed: Vec<_> = plan.networks.iter().filter(|n| n.role == Role::Managed).collect();
        let names: BTreeSet<_> = managed.iter().map(|n| n.name.clone()).collect();
        prop_assert_eq!(names.len(), managed.len());
        for n in &managed {
            prop_assert!(n.name.starts_with("nf-gamma-"), "{} is not scoped", n.name);
        }
        for (i, a) in managed.iter().enumerate() {
            for b in &managed[i + 1..] {
                if let (Some(x), Some(y)) = (a.subnet, b.subnet) {
                    prop_assert!(!netfence::subnet_pool::overlaps(&x, &y), "{} and {} overlap", x, y);
                }
            }
            if s.pool {
                let pool: ipnet::IpNet = "10.90.0.0/16".parse().unwrap();
                prop_assert!(a.subnet.is_some_and(|x| pool.contains(&x)));
            }
        }
    }

    #[test]
    fn reachability_between_services_is_preserved(s in stack()) {
        let (plan, out) = fence_str(&render(&s), policy(&s), &opts("delta")).unwrap();
        let mut after = BTreeSet::new();
        let nets = |i: usize| -> BTreeSet<String> {
            plan.service(&format!("s{i}")).unwrap().attachments.iter().map(|a| a.network.clone()).collect()
        };
        for i in 0..s.services.len() {
            for j in i + 1..s.services.len() {
                if !nets(i).is_disjoint(&nets(j)) {
                    after.insert((i, j));
                }
            }
        }
        prop_assert_eq!(after, sharing(&s));
        // Nothing of the fixed layout survives into the output (the record of what was
        // replaced, under x-netfence, aside).
        let mut doc = netfence::yaml::from_str(&out).unwrap();
        doc.as_mapping_mut().unwrap().remove("x-netfence");
        let out = netfence::yaml::to_string(&doc);
        prop_assert!(!out.contains("\n    name: fixed-net-"), "a fixed network name survived");
        prop_assert!(!out.contains("\n    container_name:"), "a container_name survived");
        prop_assert!(!out.contains("172."), "a fixed subnet survived");
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[a-z0-9:\\-\\[\\]{}&*<>!|,. \n\"'$@%#]{0,300}") {
        let _ = fence_str(&text, None, &opts("fuzz"));
    }

    #[test]
    fn compose_shaped_noise_never_panics(doc in noise()) {
        let text = serde_yaml_ng::to_string(&doc).unwrap();
        let _ = fence_str(&text, None, &opts("fuzz"));
        let _ = fence_str(&text, Some("subnets: {pool: 10.0.0.0/8}\nproxy: {}\n"), &opts("fuzz"));
        let _ = fence_str(&text, None, &Options { scope: Some(Scope::Env("e".into())), ..Options::default() });
    }
}

/// Values shaped like compose files, with compose keys in random places and types.
fn noise() -> impl Strategy<Value = serde_yaml_ng::Value> {
    use serde_yaml_ng::Value;
    let keys = prop::sample::select(vec![
        "services",
        "networks",
        "volumes",
        "ports",
        "labels",
        "container_name",
        "network_mode",
        "ipam",
        "config",
        "subnet",
        "aliases",
        "ipv4_address",
        "external",
        "name",
        "deploy",
        "extends",
        "service",
        "x-netfence",
        "fenced",
        "<<",
        "default",
        "app",
        "published",
        "target",
        "traefik.docker.network",
        "traefik.enable",
        "internal",
        "driver",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        "[a-z0-9:./${}-]{0,12}".prop_map(Value::String),
        Just(Value::String("10.0.0.0/8".into())),
        Just(Value::String("host".into())),
        Just(Value::String("8080:80".into())),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            proptest::collection::vec((keys.clone(), inner), 0..5).prop_map(|kv| {
                Value::Mapping(
                    kv.into_iter()
                        .map(|(k, v)| (Value::String(k.into()), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// Label entries a hostile file might write: owned keys with foreign values, duplicates,
/// a bare key, and a proxy label, in list or map form.
fn hostile_labels() -> impl Strategy<Value = (bool, Vec<(String, String)>)> {
    let key = prop::sample::select(vec![
        "io.netfence.scope",
        "io.netfence.project",
        "io.netfence.managed",
        "io.netfence.owner",
        "traefik.docker.network",
        "com.example.team",
    ]);
    let value = prop::sample::select(vec!["env:staging", "victim", "false", "", "x=y"]);
    (
        any::<bool>(),
        proptest::collection::vec((key, value), 0..8).prop_map(|v| {
            v.into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        }),
    )
}

fn labels_yaml(map_form: bool, labels: &[(String, String)]) -> String {
    if map_form {
        // A mapping cannot repeat a key: the last of each wins, as Compose reads a list.
        let mut seen = std::collections::BTreeMap::new();
        for (k, v) in labels {
            seen.insert(k.clone(), v.clone());
        }
        let body: Vec<String> = seen.iter().map(|(k, v)| format!("{k}: '{v}'")).collect();
        format!("{{{}}}", body.join(", "))
    } else {
        let body: Vec<String> = labels.iter().map(|(k, v)| format!("'{k}={v}'")).collect();
        format!("[{}]", body.join(", "))
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::with_cases(300)
    })]

    /// whatever labels a file writes, every owned key of the output has
    /// netfence's value in every entry (Compose keeps the last of duplicates, so one
    /// foreign entry left anywhere would win).
    #[test]
    fn owned_labels_never_keep_a_foreign_value((map_form, labels) in hostile_labels(), in_deploy in any::<bool>()) {
        let holder = labels_yaml(map_form, &labels);
        let compose = if in_deploy {
            format!("services:\n  web:\n    image: x\n    labels: {holder}\n    deploy: {{labels: {holder}}}\n")
        } else {
            format!("services:\n  web:\n    image: x\n    labels: {holder}\n")
        };
        let opts = Options { scope: Some(Scope::Run("p1".into())), project: Some("prop".into()), ..Options::default() };
        let (plan, out) = fence_str(&compose, Some("proxy: {services: [web]}\n"), &opts).unwrap();
        let doc = netfence::yaml::from_str(&out).unwrap();
        let want = [
            ("io.netfence.scope", "run:p1".to_owned()),
            ("io.netfence.project", plan.project_name.clone()),
            ("io.netfence.managed", "true".to_owned()),
            ("traefik.docker.network", "nf-proxy".to_owned()),
        ];
        for (key, value) in &want {
            let entries = netfence::labels::entries(doc["services"]["web"].get("labels"));
            let values: Vec<&String> = entries.iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect();
            prop_assert!(!values.is_empty(), "{key} missing in\n{out}");
            prop_assert!(values.iter().all(|v| *v == value), "{key}: {values:?} in\n{out}");
        }
        if in_deploy {
            let deploy = netfence::labels::entries(doc["services"]["web"]["deploy"].get("labels"));
            for (k, v) in deploy.iter().filter(|(k, _)| k.starts_with("io.netfence.") || k == "traefik.docker.network") {
                let wanted = want.iter().find(|(w, _)| w == k).map(|(_, v)| v.as_str());
                prop_assert!(wanted.is_none_or(|w| w == v), "deploy.labels {k}={v} in\n{out}");
            }
        }
    }
}
