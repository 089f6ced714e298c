//! `netfence graph`: Mermaid and DOT snapshots of a stack that has every kind of node; the
//! DOT rendered by Graphviz; the docs example is what the tool prints today; a missing
//! `dot` is a clear error with exit 3.

use std::path::PathBuf;

use crate::binary::Netfence;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example of docs/VERIFY.md: `netfence graph` with these arguments.
const EXAMPLE: &[&str] = &[
    "graph",
    "-f",
    "docs/graph-example.compose.yml",
    "--policy",
    "docs/graph-example.policy.yml",
    "--env",
    "staging",
];

fn netfence() -> Netfence {
    crate::netfence_offline()
        .current_dir(root())
        .env_remove(netfence::graph::DOT_ENV)
}

fn graph(format: &str) -> String {
    netfence()
        .args(EXAMPLE)
        .args(["--format", format])
        .run()
        .success()
        .stdout()
}

/// Graphviz present? With NETFENCE_E2E=require its absence fails the test; otherwise the
/// test says loudly that it skipped.
fn have_dot(test: &str) -> bool {
    let ok = std::process::Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let msg = format!("!!! {test}: Graphviz `dot` is not installed: SKIPPED !!!");
        if std::env::var("NETFENCE_E2E").as_deref() == Ok("require") {
            panic!("{msg} (NETFENCE_E2E=require)");
        }
        eprintln!("{msg}");
    }
    ok
}

#[test]
fn mermaid_snapshot() {
    insta::assert_snapshot!("mermaid", graph("mermaid"));
}

#[test]
fn dot_snapshot() {
    insta::assert_snapshot!("dot", graph("dot"));
}

#[test]
fn every_kind_of_node_is_drawn_distinctly() {
    let dot = graph("dot");
    let attrs = |id: &str| -> String {
        let line = dot
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{id} [")))
            .unwrap_or_else(|| panic!("no node {id} in\n{dot}"));
        // The style part: everything after the label.
        line.split_once("\", ").map(|(_, a)| a.to_owned()).unwrap()
    };
    let nodes = [
        ("s_web", "public"),
        ("s_api", "service"),
        ("s_metrics", "netmode"),
        ("n_frontend", "managed"),
        ("n_backend", "internal"),
        ("n_monitoring", "external"),
        ("n_netfence_proxy", "proxy"),
        ("n_netfence_shared_payments", "shared"),
        ("n_netfence_env", "environment"),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (id, kind) in nodes {
        let a = attrs(id);
        assert!(seen.insert(a.clone()), "{id} looks like another kind: {a}");
        // Each node is drawn like its legend entry.
        let legend = attrs(&format!("legend_{kind}"));
        assert_eq!(
            legend.trim_end_matches(", fontsize=9];"),
            a.trim_end_matches("];")
        );
    }
    let mermaid = graph("mermaid");
    for (_, kind) in nodes {
        assert!(mermaid.contains(&format!("classDef {kind} ")), "{kind}");
    }
}

#[test]
fn dot_is_rendered_by_graphviz() {
    if !have_dot("dot_is_rendered_by_graphviz") {
        return;
    }
    let mut child = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(graph("dot").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stderr.is_empty(),
        "dot warned: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Graphviz writes `-` as `&#45;` in SVG text.
    let svg = String::from_utf8(o.stdout).unwrap().replace("&#45;", "-");
    assert!(svg.contains("<svg"), "{svg}");
    for name in [
        "nf-proxy",
        "nf-staging-shop-backend",
        "ops-monitoring",
        "legend",
    ] {
        assert!(svg.contains(name), "{name} missing from the SVG");
    }
}

#[test]
fn svg_and_png_come_from_graphviz() {
    if !have_dot("svg_and_png_come_from_graphviz") {
        return;
    }
    assert!(graph("svg").contains("<svg"));
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("g.png");
    netfence()
        .args(EXAMPLE)
        .args(["--format", "png", "-o"])
        .arg(&png)
        .run()
        .success();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn missing_graphviz_is_a_clear_error_with_exit_3() {
    netfence()
        .args(EXAMPLE)
        .args(["--format", "svg"])
        .env(netfence::graph::DOT_ENV, "/nonexistent/bin/dot")
        .run()
        .code(3)
        .stdout_is("")
        .stderr_has("Graphviz")
        .stderr_has("--format mermaid");
    // Text formats never need Graphviz.
    netfence()
        .args(EXAMPLE)
        .args(["--format", "dot"])
        .env(netfence::graph::DOT_ENV, "/nonexistent/bin/dot")
        .run()
        .success();
}

/// docs/graph-example.{mmd,dot} are what the tool prints today; with NETFENCE_BLESS=1
/// they are rewritten, and docs/graph-example.svg re-rendered from the DOT.
#[test]
fn docs_example_is_current() {
    for (format, file) in [
        ("mermaid", "graph-example.mmd"),
        ("dot", "graph-example.dot"),
    ] {
        let path = root().join("docs").join(file);
        let now = graph(format);
        let bless = std::env::var("NETFENCE_BLESS").as_deref() == Ok("1");
        if bless {
            std::fs::write(&path, &now).unwrap();
            if format == "dot" && have_dot("docs_example_is_current") {
                netfence()
                    .args(EXAMPLE)
                    .args(["--format", "svg", "-o", "docs/graph-example.svg"])
                    .run()
                    .success();
            }
            continue;
        }
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            doc, now,
            "docs/{file} is stale: regenerate with `NETFENCE_BLESS=1 cargo test --test offline graph::docs`"
        );
    }
}
