//! SARIF 2.1.0 output of `netfence audit`, in the shape GitHub code scanning ingests:
//! `runs[].tool.driver.rules[]` describe every rule (not only those that fired, so a
//! fixed finding closes its alert), `results[]` point at a file and a line.

use serde_json::{json, Value};

use crate::audit::{Report, Severity, RULES};

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where people learn about netfence: Cargo's `repository` when the package sets one.
/// Without it there is no web address to give, and an invented one would be a dead link;
/// a URN keeps the field a valid absolute URI.
pub fn information_uri() -> String {
    repository().unwrap_or_else(|| "urn:netfence:docs:AUDIT.md".to_owned())
}

fn repository() -> Option<String> {
    let repo = env!("CARGO_PKG_REPOSITORY").trim_end_matches('/');
    (!repo.is_empty()).then(|| repo.to_owned())
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// A path as SARIF wants it: relative with forward slashes, under `%SRCROOT%`, when it is.
fn artifact_uri(file: &str) -> String {
    let path = std::path::Path::new(file);
    let rel = if path.is_absolute() {
        std::env::current_dir()
            .ok()
            .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.to_path_buf()))
    } else {
        Some(path.to_path_buf())
    };
    match rel {
        Some(r) => {
            let s = r.to_string_lossy().replace('\\', "/");
            percent_encode(s.trim_start_matches("./"))
        }
        None => format!("file://{}", percent_encode(&file.replace('\\', "/"))),
    }
}

/// Escapes what may not appear bare in a URI path.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn render(report: &Report) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            let mut rule = json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": { "text": r.summary },
                "fullDescription": { "text": r.description },
                "help": {
                    "text": format!("{} Fix: {}", r.description, r.fix),
                    "markdown": format!("{}\n\n**Fix:** {}", r.description, r.fix),
                },
                "defaultConfiguration": { "level": level(r.severity) },
                "properties": { "tags": ["networking", "docker-compose"] },
            });
            if let Some(repo) = repository() {
                rule["helpUri"] = json!(format!(
                    "{repo}/blob/main/docs/AUDIT.md#{}-{}",
                    r.id.to_ascii_lowercase(),
                    r.name
                ));
            }
            rule
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = RULES.iter().position(|r| r.id == f.rule).unwrap_or(0);
            let mut region = json!({ "startLine": f.line.unwrap_or(1) });
            if let Some(c) = f.column {
                region["startColumn"] = json!(c);
            }
            json!({
                "ruleId": f.rule,
                "ruleIndex": index,
                "level": level(f.severity),
                "message": { "text": format!("{} Fix: {}", f.message, f.fix) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {
                            "uri": artifact_uri(&f.file),
                            "uriBaseId": "%SRCROOT%",
                        },
                        "region": region,
                    }
                }],
                "partialFingerprints": {
                    "netfenceFinding/v1": fingerprint(&f.file, &f.key),
                },
                "properties": {
                    "subject": f.subject,
                    "fixedByRewrite": f.fixed_by_rewrite,
                },
            })
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "netfence",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": information_uri(),
                    "rules": rules,
                }
            },
            "results": results,
        }]
    })
}

/// A line-independent identity, so an alert survives edits above it.
fn fingerprint(file: &str, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{file}\n{key}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris_are_relative_and_escaped() {
        assert_eq!(
            artifact_uri("./deploy/docker-compose.yml"),
            "deploy/docker-compose.yml"
        );
        assert_eq!(
            artifact_uri("my stack/compose.yml"),
            "my%20stack/compose.yml"
        );
        let cwd = std::env::current_dir().unwrap();
        let abs = cwd.join("compose.yml");
        assert_eq!(artifact_uri(&abs.display().to_string()), "compose.yml");
        assert!(artifact_uri("/elsewhere/compose.yml").starts_with("file:///elsewhere/"));
    }

    #[test]
    fn fingerprints_ignore_lines() {
        assert_eq!(
            fingerprint("a.yml", "NF001|web"),
            fingerprint("a.yml", "NF001|web")
        );
        assert_ne!(
            fingerprint("a.yml", "NF001|web"),
            fingerprint("b.yml", "NF001|web")
        );
    }
}
