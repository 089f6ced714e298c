//! `docker netfence` without an engine: `plugin install`/`uninstall`, the metadata
//! handshake and docker's argument shape through the installed link, and a selected
//! Docker context that points nowhere.

use std::path::{Path, PathBuf};

use netfence::engine::client::context::store_id;

use crate::binary::Netfence;

const STACK: &str = "services:\n  web:\n    image: nginx\n    container_name: web\n";

/// A docker CLI config of its own, and the plugin link `plugin install` puts in it.
fn install(config: &Path) -> PathBuf {
    crate::netfence_offline()
        .env("DOCKER_CONFIG", config)
        .args(["plugin", "install"])
        .run()
        .success()
        .stderr_has("docker netfence");
    config.join("cli-plugins/docker-netfence")
}

#[test]
fn install_links_this_binary_where_docker_looks_and_uninstall_removes_only_that() {
    let config = tempfile::tempdir().unwrap();
    let link = install(config.path());
    let target = std::fs::read_link(&link).unwrap();
    assert_eq!(
        target,
        Path::new(env!("CARGO_BIN_EXE_netfence"))
            .canonicalize()
            .unwrap()
    );
    // Again: nothing changes.
    install(config.path());
    let uninstall = || {
        crate::netfence_offline()
            .env("DOCKER_CONFIG", config.path())
            .args(["plugin", "uninstall", "--user"])
            .run()
    };
    uninstall().success().stderr_has("removed");
    assert!(!link.exists());
    uninstall().success().stderr_has("nothing to remove");

    // A plugin of that name netfence did not put there is neither replaced nor removed.
    std::fs::write(&link, "#!/bin/sh\n").unwrap();
    crate::netfence_offline()
        .env("DOCKER_CONFIG", config.path())
        .args(["plugin", "install"])
        .run()
        .code(2)
        .stderr_has("is not netfence's link");
    uninstall().code(2).stderr_has("left alone");
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "#!/bin/sh\n");
}

#[test]
fn as_docker_netfence_it_answers_the_handshake_and_docker_s_argument_shape() {
    let config = tempfile::tempdir().unwrap();
    let link = install(config.path());
    let plugin = || Netfence::program(&link).env("DOCKER_HOST", "unix:///nonexistent/nf.sock");

    let meta = plugin().arg("docker-cli-plugin-metadata").run();
    let meta = meta.success().json();
    assert_eq!(meta["SchemaVersion"], "0.1.0");
    assert_eq!(meta["Vendor"], "netfence");
    assert_eq!(meta["Version"], env!("CARGO_PKG_VERSION"));
    assert!(meta["ShortDescription"]
        .as_str()
        .unwrap()
        .contains("Compose"));

    // What docker runs for `docker -D netfence rewrite …`.
    plugin()
        .args(["-D", "netfence", "rewrite", "--run-id", "pl1", "-p", "demo"])
        .stdin(STACK)
        .run()
        .success()
        .stdout_has("name: nf-pl1-demo");
    // `docker help netfence`, and help and errors naming the program as typed.
    plugin()
        .args(["help", "netfence"])
        .run()
        .success()
        .stdout_has("Usage: docker netfence");
    plugin()
        .args(["netfence", "frobnicate"])
        .run()
        .code(2)
        .stderr_has("Usage: docker netfence");
    plugin()
        .args(["--context", "a", "-H", "unix:///x.sock", "netfence", "gc"])
        .run()
        .code(2)
        .stderr_has("cannot specify both --host and --context");
}

/// A context in the store of `config`, as `docker context create NAME --docker host=HOST`
/// writes it.
fn create_context(config: &Path, name: &str, host: &str) {
    let dir = config.join("contexts/meta").join(store_id(name));
    std::fs::create_dir_all(&dir).unwrap();
    let meta = serde_json::json!({
        "Name": name, "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
    });
    std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
}

#[test]
fn a_selected_context_that_points_nowhere_is_exit_3_naming_it_and_where_it_points() {
    let config = tempfile::tempdir().unwrap();
    create_context(
        config.path(),
        "nf-nowhere",
        "unix:///nonexistent/nf-nowhere.sock",
    );
    let netfence = || {
        Netfence::new()
            .env_remove("DOCKER_HOST")
            .env("DOCKER_CONFIG", config.path())
    };
    let says = |out: &crate::binary::Outcome, how: &str| {
        out.code(3)
            .stderr_has("\"nf-nowhere\"")
            .stderr_has("unix:///nonexistent/nf-nowhere.sock")
            .stderr_has(how);
    };
    says(
        &netfence()
            .env("DOCKER_CONTEXT", "nf-nowhere")
            .arg("gc")
            .run(),
        "DOCKER_CONTEXT",
    );
    // `docker context use nf-nowhere`.
    std::fs::write(
        config.path().join("config.json"),
        r#"{"currentContext": "nf-nowhere"}"#,
    )
    .unwrap();
    says(&netfence().arg("gc").run(), "currentContext");
    // DOCKER_HOST still wins over every context, as it does for docker.
    netfence()
        .env("DOCKER_HOST", "unix:///nonexistent/nf-host.sock")
        .arg("gc")
        .run()
        .code(3)
        .stderr_has("unix:///nonexistent/nf-host.sock (from DOCKER_HOST)");

    netfence()
        .env("DOCKER_CONTEXT", "nf-never-made")
        .args(["down", "--run-id", "x"])
        .run()
        .code(3)
        .stderr_has("\"nf-never-made\"")
        .stderr_has("does not exist");
    std::fs::write(
        config
            .path()
            .join("contexts/meta")
            .join(store_id("nf-nowhere"))
            .join("meta.json"),
        "{ torn",
    )
    .unwrap();
    netfence()
        .arg("gc")
        .run()
        .code(3)
        .stderr_has("meta.json: not JSON");
}
