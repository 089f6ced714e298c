use super::*;

fn doc(text: &str) -> Value {
    crate::yaml::from_str(text).unwrap()
}

fn policy(text: &str) -> Policy {
    Policy::from_text(&crate::Source::File("p.yml".into()), text).unwrap()
}

fn found(text: &str, ctx: &Context<'_>) -> Vec<Escape> {
    escapes(&doc(text), &Policy::default(), ctx)
}

fn kinds(e: &[Escape]) -> Vec<Kind> {
    e.iter().map(|e| e.kind).collect()
}

#[test]
fn a_clean_file_has_no_escapes() {
    let e = found(
        "services:\n  web: {image: x, ports: ['8080:80'], volumes: ['./data:/data', 'db:/db']}\n  db: {image: y, network_mode: 'service:web'}\nvolumes: {db: {}}\n",
        &Context::default(),
    );
    assert_eq!(e, vec![]);
}

#[test]
fn host_and_foreign_namespaces() {
    let e = found(
        "services:\n  a: {network_mode: host}\n  b: {network_mode: 'container:victim-db'}\n  c: {network_mode: 'service:ghost', pid: host, ipc: 'container:x'}\n  d: {network_mode: bridge}\n",
        &Context::default(),
    );
    assert_eq!(
        kinds(&e),
        [
            Kind::HostNetwork,
            Kind::ForeignNamespace,
            Kind::ForeignNamespace,
            Kind::HostNamespace,
            Kind::ForeignNamespace,
            Kind::ExternalNetwork,
        ]
    );
    assert_eq!(
        e[0].grant.as_deref(),
        Some("tenant.allow.host_network: true")
    );
    assert_eq!(
        e[1].grant, None,
        "another project's namespace is never granted"
    );
    assert!(e[1].describe().contains("service b") && e[1].describe().contains("victim-db"));
    assert_eq!(e[5].item.as_deref(), Some("bridge"));
}

#[test]
fn a_declared_container_name_never_vouches_for_a_container_reference() {
    // The rewrite strips `container_name`: `container:ce-prod-blog-db-1` would land on
    // another project's real container of that name, whatever the file declares.
    let e = found(
        "services:\n  db: {container_name: ce-prod-blog-db-1}\n  side: {network_mode: 'container:ce-prod-blog-db-1'}\n  ok: {network_mode: 'service:db'}\n",
        &Context::default(),
    );
    assert_eq!(kinds(&e), [Kind::ForeignNamespace]);
    assert_eq!(e[0].key, "services.side.network_mode");
    assert!(e[0].why.contains("service:NAME"), "{}", e[0].why);
}

#[test]
fn privileges_socket_and_capabilities() {
    let e = found(
        "services:\n  a:\n    privileged: true\n    cap_add: [CHOWN, cap_net_admin, ALL]\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n      - {type: bind, source: /run, target: /r}\n      - data:/data\n",
        &Context::default(),
    );
    assert_eq!(
        kinds(&e),
        [
            Kind::Privileged,
            Kind::Capability,
            Kind::Capability,
            Kind::DockerSocket,
            Kind::DockerSocket,
        ]
    );
    assert_eq!(
        e[1].grant.as_deref(),
        Some("tenant.allow.capabilities: [NET_ADMIN]")
    );
    assert_eq!(e[1].key, "services.a.cap_add[1]");
}

#[test]
fn a_socket_behind_a_variable_is_found_as_compose_will_resolve_it() {
    let environ = BTreeMap::from([("SOCK".to_owned(), "/var/run/docker.sock".to_owned())]);
    let ctx = Context {
        environ: Some(&environ),
        ..Context::default()
    };
    let e = found(
        "services:\n  a: {volumes: ['${SOCK}:/s', '${NONE:-/run}:/r']}\n",
        &ctx,
    );
    // The interpolation itself first (the tenant may set the variable at deploy), then
    // what it gives with the variables netfence can see.
    assert_eq!(
        kinds(&e),
        [
            Kind::Interpolated,
            Kind::Interpolated,
            Kind::DockerSocket,
            Kind::DockerSocket
        ]
    );
}

#[test]
fn only_a_substituted_dollar_is_interpolation() {
    use super::judged::interpolates;
    for yes in ["${A}", "$A", "${A:-host}", "x$_b", "a$$${B}"] {
        assert!(interpolates(yes), "{yes}");
    }
    for no in ["host", "$$A", "a$", "$1", "cost: 5$"] {
        assert!(!interpolates(no), "{no}");
    }
}

#[test]
fn privileged_pieces_and_compose_booleans_are_escapes() {
    let e = found(
        "services:\n  a: {privileged: 'on', cgroup: host, devices: ['/dev/mem:/dev/mem'], security_opt: ['apparmor:unconfined', 'no-new-privileges:true'], volumes_from: ['container:other:ro', 'b']}\n  b: {image: x}\n",
        &Context::default(),
    );
    assert_eq!(
        kinds(&e),
        [
            Kind::HostNamespace,
            Kind::Privileged,
            Kind::Device,
            Kind::Privileged,
            Kind::ForeignNamespace
        ]
    );
}

#[test]
fn external_networks_assigned_foreign_or_grantable() {
    let env = crate::Scope::Env("prod".into());
    let patterns =
        vec![NamePattern::new("environment network", "{{ prefix }}-env-{{ env }}", "nf").unwrap()];
    let known = vec![KnownNetwork {
        name: "nf-prod-shop-backend".into(),
        scope: Some("env:prod".into()),
        project: Some("nf-prod-shop".into()),
        role: None,
    }];
    let ctx = Context {
        scope: Some(&env),
        assigned: vec!["nf-env-prod".into(), "nf-proxy".into()],
        known: &known,
        foreign_patterns: patterns,
        ..Context::default()
    };
    let e = found(
        "networks:\n  mine: {external: true, name: nf-env-prod}\n  proxy: {external: true, name: nf-proxy}\n  theirs: {external: true, name: nf-env-staging}\n  shop: {external: {name: nf-prod-shop-backend}}\n  corp: {external: true, name: corp-vpn}\n  lan: {driver: macvlan}\n",
        &ctx,
    );
    assert_eq!(
        kinds(&e),
        [
            Kind::ForeignNetwork,
            Kind::ForeignNetwork,
            Kind::ExternalNetwork,
            Kind::NetworkDriver
        ]
    );
    assert!(e[0].why.contains("nf-env-staging"), "{}", e[0].why);
    assert!(
        e[1].why.contains("project `nf-prod-shop` in env:prod"),
        "{}",
        e[1].why
    );
    assert_eq!(
        e[2].grant.as_deref(),
        Some("tenant.allow.external_networks: [corp-vpn]")
    );
}

#[test]
fn own_labels_in_every_form_and_place() {
    let e = found(
        "services:\n  a:\n    labels: [io.netfence.scope=env:staging]\n    deploy: {labels: {io.netfence.managed: 'true'}}\nnetworks:\n  n: {labels: [io.netfence.project=victim]}\nvolumes:\n  v: {labels: {io.netfence.scope: 'env:staging', ok: x}}\n",
        &Context::default(),
    );
    assert_eq!(kinds(&e), [Kind::OwnLabels; 4]);
    assert_eq!(e[1].key, "services.a.deploy.labels");
}

#[test]
fn a_record_of_another_project_or_scope_is_forged() {
    let record = crate::unfence::Record {
        scope: "env:staging".into(),
        project: "victim".into(),
        name: None,
        policy: "sha256:0".into(),
        version: "0".into(),
        container_names: Default::default(),
        ports: Default::default(),
        networks: Default::default(),
        ipam: Default::default(),
        proxy_names: Default::default(),
    };
    let prod = crate::Scope::Env("prod".into());
    let ctx = Context {
        scope: Some(&prod),
        project: Some("shop"),
        record: Some(&record),
        ..Context::default()
    };
    let e = found("services: {}\n", &ctx);
    assert_eq!(kinds(&e), [Kind::ForgedRecord]);
    assert!(e[0].why.contains("project `victim`") && e[0].why.contains("scope `env:staging`"));
    let ctx = Context {
        scope: Some(&crate::Scope::Env("staging".into())),
        project: Some("victim"),
        record: Some(&record),
        ..Context::default()
    };
    assert_eq!(found("services: {}\n", &ctx), vec![]);
}

#[test]
fn grants_are_exact() {
    let p = policy(
        "tenant: {allow: {host_network: true, capabilities: [net_admin], network_drivers: [MACVLAN], external_networks: ['corp-*']}}\n",
    );
    let e = escapes(
        &doc("services:\n  a: {network_mode: host, privileged: true, cap_add: [NET_ADMIN, SYS_ADMIN]}\nnetworks:\n  c: {external: true, name: corp-vpn}\n  d: {external: true, name: other}\n  l: {driver: macvlan}\n"),
        &p,
        &Context::default(),
    );
    let granted: Vec<(Kind, bool)> = e.iter().map(|e| (e.kind, e.granted)).collect();
    assert_eq!(
        granted,
        [
            (Kind::ExternalNetwork, true),
            (Kind::ExternalNetwork, false),
            (Kind::NetworkDriver, true),
            (Kind::HostNetwork, true),
            (Kind::Privileged, false),
            (Kind::Capability, true),
            (Kind::Capability, false),
        ]
    );
    assert_eq!(refused(&e).len(), 3);
}

#[test]
fn the_platforms_flat_networks_are_its_own_to_name() {
    let p = policy("flat_networks: [coolify]\n");
    let e = escapes(
        &doc("networks:\n  c: {external: true, name: coolify}\n"),
        &p,
        &Context::default(),
    );
    assert_eq!(kinds(&e), [Kind::ExternalNetwork]);
    assert!(e[0].granted);
}

#[test]
fn dotted_keys_parse_back() {
    let p = parse_dotted("include[0].path");
    assert_eq!(
        p,
        vec![
            Part::Key("include".into()),
            Part::Index(0),
            Part::Key("path".into())
        ]
    );
    assert_eq!(dotted(&p), "include[0].path");
}

fn in_project<'a>(dir: &'a std::path::Path, scope: Option<&'a crate::Scope>) -> Context<'a> {
    Context {
        project_dir: Some(dir),
        scope,
        ..Context::default()
    }
}

#[test]
fn network_mode_is_none_or_an_own_service_never_a_network_by_name() {
    let e = found(
        "services:\n  a: {network_mode: ce-env-staging}\n  b: {network_mode: none}\n  c: {network_mode: 'service:b'}\n",
        &Context::default(),
    );
    assert_eq!(kinds(&e), [Kind::ForeignNamespace]);
    assert!(e[0].why.contains("ce-env-staging"), "{}", e[0].why);
    assert_eq!(e[0].grant, None);
}

#[test]
fn bind_sources_outside_the_project_are_host_paths_granted_by_glob() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("shop");
    std::fs::create_dir(&project).unwrap();
    std::os::unix::fs::symlink("/etc", project.join("conf")).unwrap();
    let text = "services:\n  a:\n    volumes:\n      - /etc:/e\n      - /var/lib/docker:/d\n      - ../../../../../root:/r\n      - ./conf/new:/n\n      - ./data:/data\n      - {type: bind, source: /srv/media/films, target: /m}\n";
    let ctx = in_project(&project, None);
    let e = escapes(&doc(text), &Policy::default(), &ctx);
    let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "services.a.volumes[0]",
            "services.a.volumes[1]",
            "services.a.volumes[2]",
            "services.a.volumes[3]",
            "services.a.volumes[5]",
        ]
    );
    assert!(e.iter().all(|e| e.kind == Kind::HostPath && !e.granted));
    assert_eq!(
        e[3].item.as_deref(),
        Some("/etc/new"),
        "the link is followed"
    );
    let granted = escapes(
        &doc(text),
        &policy("tenant: {allow: {host_paths: ['/srv/media/*']}}\n"),
        &ctx,
    );
    assert!(granted[4].granted && !granted[0].granted);
    assert_eq!(
        e[4].grant.as_deref(),
        Some("tenant.allow.host_paths: [/srv/media/films]")
    );
}

#[test]
fn volumes_are_the_project_s_own_unless_granted() {
    let dir = tempfile::tempdir().unwrap();
    let text = "services:\n  a: {volumes: ['loot:/l', 'fixed:/f', 'disk:/x', 'mem:/m']}\nvolumes:\n  loot: {external: true, name: ce-prod-blog_db}\n  fixed: {name: ce-prod-blog_db}\n  disk: {driver_opts: {type: ext4, device: /dev/sda1}}\n  mem: {driver_opts: {type: tmpfs, device: tmpfs, o: size=64m}}\n";
    let ctx = in_project(dir.path(), None);
    let e = escapes(&doc(text), &Policy::default(), &ctx);
    assert_eq!(
        kinds(&e),
        [Kind::ExternalVolume, Kind::ForeignVolume, Kind::HostPath]
    );
    assert_eq!(e[0].item.as_deref(), Some("ce-prod-blog_db"));
    assert_eq!(e[2].item.as_deref(), Some("/dev/sda1"));
    let p = policy(
        "tenant: {allow: {external_volumes: ['ce-prod-blog_*'], host_paths: ['/dev/sda1']}}\n",
    );
    let granted = escapes(&doc(text), &p, &ctx);
    assert!(granted[0].granted && !granted[1].granted && granted[2].granted);
}

#[test]
fn a_dotted_service_name_or_an_alias_on_an_external_network_is_a_qualified_name() {
    let env = crate::Scope::Env("prod".into());
    let text = "services:\n  db.blog: {image: x}\n  api: {image: x, networks: {envnet: {aliases: [db.blog]}, own: {aliases: [api.local]}}}\nnetworks:\n  envnet: {external: true, name: ce-env-prod}\n  own: {}\n";
    let e = found(
        text,
        &in_project(std::path::Path::new("/nonexistent"), Some(&env)),
    );
    let named: Vec<(Kind, &str)> = e
        .iter()
        .filter(|e| e.kind == Kind::QualifiedName)
        .map(|e| (e.kind, e.key.as_str()))
        .collect();
    assert_eq!(
        named,
        [
            (Kind::QualifiedName, "services.db.blog"),
            (
                Kind::QualifiedName,
                "services.api.networks.envnet.aliases[0]"
            ),
        ]
    );
}

#[test]
fn only_tightening_security_options_pass() {
    let e = found(
        "services:\n  a: {security_opt: ['apparmor=docker-default', 'no-new-privileges:true', 'label=disable', 'no-new-privileges:false', 'no-new-privileges=f', 'no-new-privileges:F', 'no-new-privileges', 'no-new-privileges=1', 'no-new-privileges=yes']}\n",
        &Context::default(),
    );
    let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
    // The engine reads the value as Go's ParseBool does: `f` and `F` are false, and
    // `yes` is no value at all.
    assert_eq!(
        keys,
        [
            "services.a.security_opt[2]",
            "services.a.security_opt[3]",
            "services.a.security_opt[4]",
            "services.a.security_opt[5]",
            "services.a.security_opt[8]",
        ]
    );
}

#[test]
fn own_labels_are_refused_on_an_image_and_an_anonymous_volume_too() {
    let e = found(
        "services:\n  a:\n    build: {context: ., labels: {io.netfence.owner: '1'}}\n    volumes: [{type: volume, target: /d, volume: {labels: {io.netfence.project: billing}}}]\n",
        &Context::default(),
    );
    let keys: Vec<(Kind, &str)> = e.iter().map(|e| (e.kind, e.key.as_str())).collect();
    assert_eq!(
        keys,
        [
            (Kind::OwnLabels, "services.a.build.labels"),
            (Kind::OwnLabels, "services.a.volumes[0].volume.labels"),
        ]
    );
}

#[test]
fn the_null_device_is_no_host_path() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = in_project(dir.path(), None);
    let text = "services:\n  a: {volumes: ['/dev/null:/etc/motd:ro', '/dev/nul:/x', '/dev:/d']}\n";
    let e = escapes(&doc(text), &Policy::default(), &ctx);
    let keys: Vec<&str> = e.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["services.a.volumes[1]", "services.a.volumes[2]"]);
}

/// A link netfence cannot follow to its end (its target behind a directory netfence may
/// not search, or missing) leads where it says: the engine, as root, follows it there.
#[test]
fn a_link_that_cannot_be_followed_here_is_taken_at_its_word() {
    use crate::load::host::Memory;
    // `/var/lib/docker` is not in the made-up host: searching it fails, as it does for
    // a user outside the docker group (mode 0710).
    let host = Memory::default()
        .dir("/srv/shop")
        .link("/srv/shop/loot", "/var/lib/docker/volumes")
        .link("/srv/shop/new", "../../etc/cron.d/job")
        .link("/srv/shop/spin", "/srv/shop/spin")
        .file("/srv/shop/key", "k");
    let ctx = Context {
        host: &host,
        ..in_project(std::path::Path::new("/srv/shop"), None)
    };
    let text = "services:\n  a:\n    volumes: ['./loot/x_db/_data:/db', './new:/n', './spin:/s', './key:/k']\n";
    let e = escapes(&doc(text), &Policy::default(), &ctx);
    let found: Vec<(&str, Option<&str>)> = e
        .iter()
        .map(|e| (e.key.as_str(), e.item.as_deref()))
        .collect();
    // A loop of links is the root, outside every project: the socket's, even.
    assert_eq!(
        found,
        [
            ("services.a.volumes[2]", None),
            (
                "services.a.volumes[0]",
                Some("/var/lib/docker/volumes/x_db/_data")
            ),
            ("services.a.volumes[1]", Some("/etc/cron.d/job")),
        ]
    );
    assert_eq!(e[0].kind, Kind::DockerSocket);
}

/// With no driver named, log options go to the engine's default driver, which may ship
/// logs from the host to the address an option names.
#[test]
fn log_options_are_free_only_for_drivers_that_keep_logs_on_the_host() {
    let e = found(
        "services:\n  a: {logging: {options: {max-size: 10m, syslog-address: 'tcp://10.0.0.1:514'}}}\n  b: {logging: {driver: local, options: {max-file: '3'}}}\n  c: {logging: {driver: json-file, options: {gelf-address: 'udp://10.0.0.1:1'}}}\n",
        &Context::default(),
    );
    let keys: Vec<(Kind, &str)> = e.iter().map(|e| (e.kind, e.key.as_str())).collect();
    assert_eq!(
        keys,
        [
            (
                Kind::HostNetwork,
                "services.a.logging.options.syslog-address"
            ),
            (Kind::HostNetwork, "services.c.logging.options.gelf-address"),
        ]
    );
    assert_eq!(
        e[0].grant.as_deref(),
        Some("tenant.allow.host_network: true")
    );
}

/// The spellings the engine and the proxy read as the judged ones.
#[test]
fn upper_case_limits_empty_log_drivers_and_inline_image_labels_are_judged() {
    let env = crate::Scope::Env("prod".into());
    let text = "services:\n  a:\n    ulimits: {RTPRIO: 99}\n    logging: {driver: '', options: {syslog-address: 'tcp://10.0.0.1:514'}}\n    mac_address: '02:42:ac:11:00:02'\n    build: {context: ., dockerfile_inline: \"FROM scratch\\nlabel traefik.http.routers.x.service=api@internal io.netfence.role=proxy\\n\"}\n    labels: {traefik.http.routers.web.Service: web-nf-prod-billing@docker}\n";
    let e = found(
        text,
        &Context {
            project_name: Some("nf-prod-shop"),
            ..in_project(std::path::Path::new("/nonexistent"), Some(&env))
        },
    );
    let keys: Vec<(Kind, &str)> = e.iter().map(|e| (e.kind, e.key.as_str())).collect();
    for want in [
        (Kind::HostResources, "services.a.ulimits.rtprio"),
        (
            Kind::HostNetwork,
            "services.a.logging.options.syslog-address",
        ),
        (Kind::QualifiedName, "services.a.mac_address"),
        (Kind::OwnLabels, "services.a.build.dockerfile_inline"),
        (Kind::ProxyRoute, "services.a.build.dockerfile_inline"),
        (Kind::ProxyName, "services.a.labels"),
    ] {
        assert!(keys.contains(&want), "{want:?} missing in {keys:#?}");
    }
}
