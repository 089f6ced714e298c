//! `netfence audit`: every rule fires on its `bad.yml` and not on its fixed `good.yml`;
//! the three output formats are pinned as snapshots; SARIF has what GitHub code scanning
//! requires; netfence's own rewrite output audits clean; the corpus counts in
//! docs/AUDIT.md are current.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::binary::{Netfence, Outcome};
use netfence::audit::{self, Occupied, Report, Severity, RULES};
use netfence::{Options, Scope};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_dir(id: &str) -> PathBuf {
    root().join("fixtures/audit").join(id)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn run_opts() -> Options {
    Options {
        scope: Some(Scope::Run("t".into())),
        ..Options::default()
    }
}

/// `occupied.txt` of a fixture: one `NAME=CIDR` or `CIDR` a line.
fn occupied(dir: &Path) -> Vec<Occupied> {
    let p = dir.join("occupied.txt");
    if !p.exists() {
        return Vec::new();
    }
    read(&p)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (name, cidr) = l.split_once('=').unwrap_or(("", l));
            Occupied {
                subnet: cidr.trim().parse().unwrap(),
                network: name.to_owned(),
            }
        })
        .collect()
}

fn policy(dir: &Path) -> Option<String> {
    let p = dir.join("policy.yml");
    p.exists().then(|| read(&p))
}

fn audit_fixture(id: &str, which: &str) -> Report {
    let dir = fixture_dir(id);
    let name = format!("fixtures/audit/{id}/{which}.yml");
    let text = read(&dir.join(format!("{which}.yml")));
    audit::audit_str(
        &name,
        &text,
        policy(&dir).as_deref(),
        &run_opts(),
        &occupied(&dir),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// One line a finding: where, what, and whether rewrite fixes it.
fn compact(report: &Report, rule: Option<&str>) -> String {
    report
        .findings
        .iter()
        .filter(|f| rule.is_none_or(|r| f.rule == r))
        .map(|f| {
            format!(
                "{}:{} {} {} [{}] {}\n  fix: {}\n",
                f.line.unwrap_or(0),
                f.column.unwrap_or(0),
                f.severity,
                f.rule,
                if f.fixed_by_rewrite {
                    "rewrite fixes"
                } else {
                    "rewrite does not fix"
                },
                f.message,
                f.fix
            )
        })
        .collect()
}

#[test]
fn every_rule_fires_on_its_bad_fixture_and_not_on_the_fixed_one() {
    let mut missing = Vec::new();
    for rule in RULES {
        let dir = fixture_dir(rule.id);
        if !dir.join("bad.yml").exists() || !dir.join("good.yml").exists() {
            missing.push(rule.id);
            continue;
        }
        let bad = audit_fixture(rule.id, "bad");
        assert!(
            bad.findings.iter().any(|f| f.rule == rule.id),
            "{} does not fire on its bad.yml:\n{}",
            rule.id,
            compact(&bad, None)
        );
        for f in bad.findings.iter().filter(|f| f.rule == rule.id) {
            assert!(
                f.line.is_some(),
                "{}: finding without a line: {f:?}",
                rule.id
            );
        }
        insta::assert_snapshot!(format!("rule_{}", rule.id), compact(&bad, Some(rule.id)));
        let good = audit_fixture(rule.id, "good");
        assert!(
            !good.findings.iter().any(|f| f.rule == rule.id),
            "{} still fires on its good.yml:\n{}",
            rule.id,
            compact(&good, Some(rule.id))
        );
    }
    assert!(
        missing.is_empty(),
        "rules without a fixture pair: {missing:?}"
    );
}

#[test]
fn rule_ids_are_unique_and_ordered() {
    let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(ids, sorted);
    for (i, r) in RULES.iter().enumerate() {
        assert_eq!(r.id, format!("NF{:03}", i + 1));
    }
}

// ---- the binary: formats, exit codes ---------------------------------------------------

fn netfence() -> Netfence {
    crate::netfence_offline()
        .current_dir(root())
        .env("NO_COLOR", "1")
}

/// Three files merged: findings are placed in the file (and line) that holds them.
const MERGED: &[&str] = &[
    "fixtures/audit/NF001/bad.yml",
    "fixtures/audit/NF014/bad.yml",
    "fixtures/audit/NF006/bad.yml",
];

fn audit_cli(extra: &[&str]) -> Outcome {
    netfence()
        .args(["audit", "--no-engine"])
        .args(MERGED.iter().flat_map(|f| ["-f", f]))
        .args(extra)
        .run()
}

#[test]
fn human_output_is_grouped_per_file() {
    let text = audit_cli(&["--color", "never"]).success().stdout();
    assert!(!text.contains('\x1b'), "no colour when not asked");
    insta::assert_snapshot!("human", text);
}

#[test]
fn colour_is_used_only_when_asked() {
    audit_cli(&["--color", "always"]).stdout_has("\x1b[1;31merror");
    // Not a terminal: no colour by default.
    audit_cli(&[]).stdout_lacks("\x1b");
}

#[test]
fn json_output() {
    let mut v = audit_cli(&["--format", "json"]).success().json();
    v["tool"]["version"] = "[version]".into();
    insta::assert_json_snapshot!("json", v);
}

#[test]
fn sarif_output() {
    let mut v = audit_cli(&["--format", "sarif"]).success().json();
    v["runs"][0]["tool"]["driver"]["version"] = "[version]".into();
    v["runs"][0]["tool"]["driver"]["semanticVersion"] = "[version]".into();
    insta::assert_json_snapshot!("sarif", v);
}

/// What GitHub code scanning requires of an upload (and what it shows).
#[test]
fn sarif_has_what_code_scanning_requires() {
    let v = audit_cli(&["--format", "sarif"]).json();
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "netfence");
    let uri = driver["informationUri"].as_str().unwrap();
    assert!(
        uri.contains(':'),
        "informationUri must be an absolute URI: {uri}"
    );
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), RULES.len());
    for r in rules {
        assert!(r["id"].as_str().unwrap().starts_with("NF"));
        assert!(!r["shortDescription"]["text"].as_str().unwrap().is_empty());
        assert!(
            r["fullDescription"]["text"].is_string() || r["helpUri"].is_string(),
            "{r}"
        );
        let level = r["defaultConfiguration"]["level"].as_str().unwrap();
        assert!(["error", "warning", "note"].contains(&level));
    }
    let results = runs[0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for res in results {
        let id = res["ruleId"].as_str().unwrap();
        let index = res["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], id, "ruleIndex points at the rule");
        assert!(["error", "warning", "note"].contains(&res["level"].as_str().unwrap()));
        assert!(!res["message"]["text"].as_str().unwrap().is_empty());
        let loc = &res["locations"][0]["physicalLocation"];
        let uri = loc["artifactLocation"]["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("fixtures/audit/") && !uri.contains('\\'),
            "a relative URI: {uri}"
        );
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
        assert!(res["partialFingerprints"].is_object());
    }
}

#[test]
fn deny_sets_the_exit_code() {
    let audit = |args: &[&str]| {
        netfence()
            .args(["audit", "--no-engine", "-f"])
            .args(args)
            .run()
    };
    let f = "fixtures/audit/NF001/bad.yml"; // warnings only
    audit(&[f]).code(0);
    audit(&[f, "--deny", "warn"]).code(1);
    audit(&[f, "--deny", "error"]).code(0);
    let e = "fixtures/audit/NF002/bad.yml"; // has an error
    audit(&[e, "--deny", "error"]).code(1);
    let n = "fixtures/audit/NF010/bad.yml"; // a note only
    audit(&[n, "--deny", "warn"]).code(0);
    let clean = "fixtures/audit/NF001/good.yml";
    audit(&[clean, "--deny", "warn"]).code(0);
}

#[test]
fn bad_input_exits_2() {
    netfence()
        .args(["audit", "-f", "fixtures/audit/NF007/bad.yml"])
        .args(["--occupied-subnet", "not-a-cidr"])
        .run()
        .code(2)
        .stderr_has("--occupied-subnet");
    netfence()
        .args(["audit", "-f", "no/such/file.yml"])
        .run()
        .code(2);
}

#[test]
fn occupied_subnets_come_from_the_command_line() {
    let v = netfence()
        .args([
            "audit",
            "-f",
            "fixtures/audit/NF007/bad.yml",
            "--format",
            "json",
        ])
        .args(["--occupied-subnet", "corp-vpn=172.30.0.0/16"])
        .run()
        .json();
    let nf007: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "NF007")
        .collect();
    assert_eq!(nf007.len(), 1, "{v}");
    assert!(nf007[0]["message"].as_str().unwrap().contains("corp-vpn"));
    assert_eq!(nf007[0]["fixed_by_rewrite"], true);
}

#[test]
fn stdin_is_audited_with_lines() {
    let v = netfence()
        .args(["audit", "--no-engine", "--format", "json"])
        .stdin(read(&fixture_dir("NF013").join("bad.yml")))
        .run()
        .json();
    let f = &v["findings"][0];
    assert_eq!(f["file"], "<stdin>");
    assert_eq!(f["rule"], "NF013");
    assert_eq!(f["line"], 5);
}

// ---- rewrite output audits clean ---------------------------------------------------------

const PROXY_POLICY: &str =
    "version: 1\nproxy: { network: nf-proxy, provider: traefik, services: auto }\n";
const LOOPBACK_POLICY: &str = "version: 1\nports: loopback\n";

/// NF011 where the platform provides the proxy: a Traefik-enabled service on two networks
/// of its own stack, no label. (NF011/bad.yml declares the proxy network `external` itself;
/// the planner refuses a `proxy:` policy naming that same network, so it cannot be used
/// here: see the report of issue 5.)
const PLATFORM_PROXY: &str = "NF011-platform-proxy";
const PLATFORM_PROXY_COMPOSE: &str = "name: shop
services:
  web:
    image: example/web:1
    labels: [traefik.enable=true, \"traefik.http.routers.web.rule=Host(`shop.example.com`)\"]
    networks: [frontend, backend]
  api:
    image: example/api:1
    networks: [backend]
networks:
  frontend: {}
  backend: {}
";

/// NF012's fixable half: the label names the compose key of a network the service joins.
/// (NF012/bad.yml also has a label naming no network at all, which rewrite cannot fix.)
const KEY_LABEL: &str = "NF012-key";
const KEY_LABEL_COMPOSE: &str = "name: shop
services:
  web:
    image: example/web:1
    labels: [traefik.enable=true, traefik.docker.network=frontend]
    networks: [frontend, backend]
networks:
  frontend: {}
  backend: {}
";

/// Rewrites a fixture, then audits the output with the same policy: nothing at warning
/// level or above may remain.
fn rewrite_then_audit(id: &str, policy: Option<&str>, scope: Scope) -> Report {
    let dir = fixture_dir(id);
    let text = match id {
        PLATFORM_PROXY => PLATFORM_PROXY_COMPOSE.to_owned(),
        KEY_LABEL => KEY_LABEL_COMPOSE.to_owned(),
        _ => read(&dir.join("bad.yml")),
    };
    let occupied = occupied(&dir);
    let opts = Options {
        scope: Some(scope),
        occupied: occupied
            .iter()
            .map(|o| netfence::avoid::Avoid::network(o.subnet, &o.network))
            .collect(),
        ..Options::default()
    };
    let policy = policy.map(str::to_owned).or_else(|| self::policy(&dir));
    let (_, fenced) = netfence::fence_str(&text, policy.as_deref(), &opts).unwrap();
    let after = Options {
        scope: None,
        ..opts
    };
    audit::audit_str("fenced.yml", &fenced, policy.as_deref(), &after, &occupied).unwrap()
}

#[test]
fn rewrite_output_audits_clean() {
    let cases: &[(&str, Option<&str>)] = &[
        ("NF001", None),
        ("NF002", None),
        ("NF003", None),
        ("NF004", None),
        ("NF005", None),
        ("NF006", None),
        ("NF007", None),
        ("NF008", None),
        ("NF010", None),
        (PLATFORM_PROXY, Some(PROXY_POLICY)),
        (KEY_LABEL, None),
        ("NF014", Some(LOOPBACK_POLICY)),
    ];
    for (id, policy) in cases {
        for scope in [Scope::Run("ci-1".into()), Scope::Env("staging".into())] {
            // Env scope keeps ports and input subnets unless the policy says otherwise.
            if scope.is_env() && matches!(*id, "NF004" | "NF005" | "NF006" | "NF007" | "NF008") {
                continue;
            }
            let r = rewrite_then_audit(id, *policy, scope.clone());
            assert_eq!(
                r.count(Severity::Warning),
                0,
                "{id} in {scope}: rewrite output is not clean:\n{}",
                compact(&r, None)
            );
        }
    }
}

/// The rules rewrite cannot fix, stated as a test: they still fire on its output.
#[test]
fn rewrite_leaves_what_it_cannot_fix() {
    for (id, rule) in [
        ("NF009", "NF009"), // external networks are not netfence's
        ("NF013", "NF013"), // network_mode: host is never fenced
        ("NF015", "NF015"), // Compose always registers the bare service name
        ("NF016", "NF016"), // two services, one alias
    ] {
        let r = rewrite_then_audit(id, None, Scope::Run("ci-1".into()));
        assert!(
            r.findings.iter().any(|f| f.rule == rule),
            "{id}: expected {rule} after rewrite:\n{}",
            compact(&r, None)
        );
        let before = audit_fixture(id, "bad");
        assert!(before
            .findings
            .iter()
            .filter(|f| f.rule == rule)
            .all(|f| !f.fixed_by_rewrite));
    }
}

#[test]
fn env_scope_output_has_only_notes_about_the_environment_network() {
    let r = rewrite_then_audit(
        PLATFORM_PROXY,
        Some(PROXY_POLICY),
        Scope::Env("prod".into()),
    );
    assert_eq!(r.count(Severity::Warning), 0, "{}", compact(&r, None));
    // NF033: on engines before 28 only, the environment network may be asked first.
    assert!(
        r.findings
            .iter()
            .all(|f| f.rule == "NF015" || f.rule == "NF033"),
        "{}",
        compact(&r, None)
    );
}

// ---- the corpus ----------------------------------------------------------------------------

const BEGIN: &str =
    "<!-- corpus-counts:begin (generated by `NETFENCE_BLESS=1 cargo test --test offline audit::docs`) -->";
const END: &str = "<!-- corpus-counts:end -->";

fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The counts section of docs/AUDIT.md for the corpus at `dir`.
fn corpus_section(dir: &Path) -> String {
    let files = corpus_files(dir);
    let mut findings: BTreeMap<&str, usize> = BTreeMap::new();
    let mut files_with: BTreeMap<&str, usize> = BTreeMap::new();
    let mut fixed: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_folder: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new(); // files, refused, clean
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for path in &files {
        let folder = path
            .strip_prefix(dir)
            .unwrap()
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let entry = per_folder.entry(folder).or_default();
        entry.0 += 1;
        let text = read(path);
        let result = netfence::load::load(std::slice::from_ref(path), &mut std::io::empty())
            .and_then(|input| {
                let project = netfence::Project::new(
                    input,
                    None,
                    &std::env::temp_dir().join("netfence-no-such-dir"),
                )?;
                let src = audit::SourceText {
                    name: path.display().to_string(),
                    text,
                };
                audit::audit(&project, &run_opts(), &[src], &[])
            });
        match result {
            Ok(report) => {
                if report.findings.is_empty() {
                    entry.2 += 1;
                }
                let mut seen = std::collections::BTreeSet::new();
                for f in &report.findings {
                    *findings.entry(f.rule).or_default() += 1;
                    if f.fixed_by_rewrite {
                        *fixed.entry(f.rule).or_default() += 1;
                    }
                    if seen.insert(f.rule) {
                        *files_with.entry(f.rule).or_default() += 1;
                    }
                }
            }
            Err(e) => {
                entry.1 += 1;
                *refused.entry(refusal_kind(&e)).or_default() += 1;
            }
        }
    }
    let total_refused: usize = per_folder.values().map(|v| v.1).sum();
    let total_clean: usize = per_folder.values().map(|v| v.2).sum();
    let mut s = String::new();
    s.push_str(&format!(
        "{} compose files under `../shared/corpus/` ({} audited, {} refused by the loader or planner, {} with no finding). \
Built-in policy, scope `run:t`, no engine subnets.\n\n",
        files.len(),
        files.len() - total_refused,
        total_refused,
        total_clean
    ));
    s.push_str("| rule | name | severity | findings | files | fixed by `rewrite` |\n|---|---|---|---:|---:|---:|\n");
    for r in RULES {
        s.push_str(&format!(
            "| [{}](#{}-{}) | {} | {} | {} | {} | {} |\n",
            r.id,
            r.id.to_ascii_lowercase(),
            r.name,
            r.name,
            r.severity,
            findings.get(r.id).unwrap_or(&0),
            files_with.get(r.id).unwrap_or(&0),
            fixed.get(r.id).unwrap_or(&0),
        ));
    }
    s.push_str("\n| corpus folder | files | refused | no finding |\n|---|---:|---:|---:|\n");
    for (folder, (n, r, c)) in &per_folder {
        s.push_str(&format!("| {folder} | {n} | {r} | {c} |\n"));
    }
    if !refused.is_empty() {
        s.push_str("\nWhy files were refused (they are not audited):\n\n");
        for (why, n) in &refused {
            s.push_str(&format!("- {n} × {why}\n"));
        }
    }
    s
}

/// A refusal reduced to its kind (no paths: the docs must not depend on the checkout).
fn refusal_kind(e: &netfence::Error) -> String {
    match e {
        netfence::Error::Yaml { message, .. } => {
            format!("YAML the loader refuses: {}", first_words(message))
        }
        netfence::Error::Compose { message, .. } => {
            if message.contains("is not declared under `networks:`") {
                "compose error: a service refers to an undeclared network".to_owned()
            } else if message.starts_with("open ") || message.starts_with("stat ") {
                "compose error: a file it includes or extends (or an env file) is missing"
                    .to_owned()
            } else {
                format!("compose error: {}", first_words(message))
            }
        }
        netfence::Error::Policy { message, .. } => {
            format!("policy error: {}", first_words(message))
        }
        netfence::Error::Io { .. } => "unreadable".to_owned(),
        other => first_words(&other.to_string()),
    }
}

fn first_words(s: &str) -> String {
    // An absolute path is shown by its file name: the docs must not depend on the checkout.
    let words: Vec<&str> = s
        .split_whitespace()
        .take(12)
        .map(|w| match w.starts_with('/') {
            true => w.rsplit('/').next().unwrap_or(w),
            false => w,
        })
        .collect();
    words.join(" ")
}

/// Compares a generated section of docs/AUDIT.md with what the code says now; with
/// `NETFENCE_BLESS=1` rewrites it instead of failing.
fn check_section(begin: &str, end: &str, wanted: &str) {
    let doc_path = root().join("docs/AUDIT.md");
    let doc = read(&doc_path);
    let (Some(b), Some(e)) = (doc.find(begin), doc.find(end)) else {
        panic!("docs/AUDIT.md lacks the markers `{begin}` … `{end}`");
    };
    let current = &doc[b + begin.len()..e];
    let wanted = format!("\n{wanted}");
    if current == wanted {
        return;
    }
    if std::env::var("NETFENCE_BLESS").as_deref() == Ok("1") {
        let new = format!("{}{begin}{wanted}{}", &doc[..b], &doc[e..]);
        std::fs::write(&doc_path, new).unwrap();
        eprintln!("docs/AUDIT.md: section `{begin}` rewritten");
    } else {
        panic!(
            "docs/AUDIT.md section `{begin}` is stale; regenerate with \
             `NETFENCE_BLESS=1 cargo test --test offline audit::docs`. Wanted:\n{wanted}"
        );
    }
}

#[test]
fn docs_corpus_counts_are_current() {
    let dir = root().join("../shared/corpus");
    if !dir.is_dir() {
        let msg = format!(
            "\n!!! CORPUS MISSING: {} does not exist; the corpus audit did NOT run !!!\n",
            dir.display()
        );
        if std::env::var("NETFENCE_E2E").as_deref() == Ok("require") {
            panic!("{msg}(NETFENCE_E2E=require)");
        }
        eprintln!("{msg}");
        return;
    }
    check_section(BEGIN, END, &corpus_section(&dir));
}

const RULES_BEGIN: &str =
    "<!-- rules:begin (generated from src/audit/rules.rs by `NETFENCE_BLESS=1 cargo test --test offline audit::docs`) -->";
const RULES_END: &str = "<!-- rules:end -->";

#[test]
fn docs_rule_reference_is_current() {
    let mut s = String::new();
    for r in RULES {
        s.push_str(&format!(
            "### {} {}

**{}** · default severity **{}**

{}

**Fix.** {}

**Does `netfence rewrite` fix it?** {}

",
            r.id, r.name, r.summary, r.severity, r.description, r.fix, r.rewrite
        ));
    }
    check_section(RULES_BEGIN, RULES_END, &s);
}

/// The filter use: `netfence rewrite | netfence audit --deny warn` passes.
#[test]
fn rewrite_piped_into_audit_passes_deny_warn() {
    let fenced = netfence()
        .args([
            "rewrite",
            "-f",
            "fixtures/audit/NF004/bad.yml",
            "--run-id",
            "ci-7",
        ])
        .run()
        .success()
        .stdout();
    netfence()
        .args(["audit", "--no-engine", "--deny", "warn"])
        .stdin(fenced.clone())
        .run()
        .code(0)
        .stdout_has("<stdin>: no findings")
        .stderr_is("");

    // Audited with another policy than it was fenced with: said on stderr.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yml");
    std::fs::write(&policy, LOOPBACK_POLICY).unwrap();
    netfence()
        .args(["audit", "--no-engine", "--policy"])
        .arg(&policy)
        .stdin(fenced)
        .run()
        .stderr_has("was fenced with policy");
}
