//! The human form of an audit report: findings grouped per file, in line order, each with
//! its fix; ANSI colour only when asked (the caller decides: a terminal, no `NO_COLOR`).

use std::fmt::Write;

use super::{Report, Severity};

struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    fn severity(&self, s: Severity) -> String {
        let code = match s {
            Severity::Error => "1;31",
            Severity::Warning => "1;33",
            Severity::Note => "1;36",
        };
        // Padded before painting, so columns line up with and without colour.
        self.paint(code, &format!("{:<7}", s.as_str()))
    }
}

pub fn render(report: &Report, colour: bool) -> String {
    let st = Style { on: colour };
    let mut out = String::new();
    for file in &report.files {
        let findings: Vec<_> = report.findings.iter().filter(|f| &f.file == file).collect();
        if findings.is_empty() {
            let _ = writeln!(out, "{}: no findings", st.paint("1", file));
            continue;
        }
        let _ = writeln!(out, "{}", st.paint("1;4", file));
        for f in findings {
            let at = match (f.line, f.column) {
                (Some(l), Some(c)) => format!("{l}:{c}"),
                (Some(l), None) => l.to_string(),
                _ => "-".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {at:>7}  {}  {} {}",
                st.severity(f.severity),
                st.paint("1", f.rule),
                f.message
            );
            let pad = " ".repeat(20);
            let _ = writeln!(out, "{pad}{} {}", st.paint("2", "fix:"), f.fix);
            if f.fixed_by_rewrite {
                let _ = writeln!(
                    out,
                    "{pad}{}",
                    st.paint("32", "`netfence rewrite` fixes this")
                );
            }
        }
        out.push('\n');
    }
    let n = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let fixed = report
        .findings
        .iter()
        .filter(|f| f.fixed_by_rewrite)
        .count();
    let _ = writeln!(
        out,
        "{} ({}, {}, {}); {fixed} fixed by `netfence rewrite`",
        plural(report.findings.len(), "finding"),
        plural(n(Severity::Error), "error"),
        plural(n(Severity::Warning), "warning"),
        plural(n(Severity::Note), "note"),
    );
    out
}

/// The JSON form: the report with a summary, stable for scripts.
pub fn json(report: &Report) -> serde_json::Value {
    let n = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    serde_json::json!({
        "version": 1,
        "tool": { "name": "netfence", "version": env!("CARGO_PKG_VERSION") },
        "files": report.files,
        "summary": {
            "findings": report.findings.len(),
            "error": n(Severity::Error),
            "warning": n(Severity::Warning),
            "note": n(Severity::Note),
            "fixed_by_rewrite": report.findings.iter().filter(|f| f.fixed_by_rewrite).count(),
        },
        "findings": report.findings,
    })
}
