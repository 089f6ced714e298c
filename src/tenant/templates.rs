//! Recognising names netfence gives other scopes' networks: a naming template rendered
//! with every scope variable left open becomes a pattern, so `nf-env-staging` is known
//! as an environment network while deploying `prod`, with no engine to ask. Globs for
//! `tenant.allow.external_networks` are matched here too.

use std::collections::BTreeMap;

use crate::naming::{self, Vars};
use crate::scope::Scope;

/// What a scope id, project or network key can be in a name (after sanitising).
const PART: &str = "[a-z0-9][a-z0-9_.-]*";

/// Stands for a variable while rendering; lower-case letters survive sanitising.
const MARK: &str = "qqnfvarqq";

/// A template with its variables opened up.
#[derive(Debug, Clone)]
pub struct NamePattern {
    /// What the network is, for messages: `environment network`, `proxy network`...
    pub what: String,
    regex: regex::Regex,
}

impl NamePattern {
    /// `template` with `prefix` fixed and every other variable free; `None` when the
    /// template does not render that way (then it cannot be recognised, only compared).
    pub fn new(what: &str, template: &str, prefix: &str) -> Option<NamePattern> {
        let environ = BTreeMap::new();
        let scope = Scope::Env(MARK.into());
        let mut vars = Vars::new(prefix, &scope, MARK, &environ);
        vars.run_id = MARK;
        vars.scope_kind = MARK;
        vars = vars.network(MARK).service(MARK);
        let rendered = naming::render(template, &vars).ok()?;
        let rendered = rendered.to_ascii_lowercase();
        if !rendered.contains(MARK) {
            return None;
        }
        let body: Vec<String> = rendered.split(MARK).map(regex::escape).collect();
        let regex = regex::Regex::new(&format!("^{}$", body.join(PART))).ok()?;
        Some(NamePattern {
            what: what.to_owned(),
            regex,
        })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.regex.is_match(&name.to_ascii_lowercase())
    }
}

/// `*` any run of characters, `?` one; everything else literal. Docker network names
/// are case-sensitive, so globs are too.
pub fn glob_matches(glob: &str, name: &str) -> bool {
    let pattern: String = glob
        .chars()
        .map(|c| match c {
            '*' => ".*".to_owned(),
            '?' => ".".to_owned(),
            c => regex::escape(&c.to_string()),
        })
        .collect();
    regex::Regex::new(&format!("^{pattern}$")).is_ok_and(|r| r.is_match(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_environment_template_recognises_every_environment() {
        let p =
            NamePattern::new("environment network", "{{ prefix }}-env-{{ env }}", "nf").unwrap();
        assert!(p.matches("nf-env-staging"));
        assert!(p.matches("nf-env-prod"));
        assert!(!p.matches("nf-env-"));
        assert!(!p.matches("other-env-prod"));
        assert!(!p.matches("nf-proxy"));
    }

    #[test]
    fn a_fixed_template_is_no_pattern() {
        assert!(NamePattern::new("proxy network", "{{ prefix }}-proxy", "nf").is_none());
    }

    #[test]
    fn managed_network_names_of_any_scope_and_project_are_recognised() {
        let p = NamePattern::new(
            "network",
            "{{ prefix }}-{{ scope_id }}-{{ project }}-{{ network }}",
            "nf",
        )
        .unwrap();
        assert!(p.matches("nf-staging-shop-backend"));
        assert!(!p.matches("shop_backend"));
    }

    #[test]
    fn globs() {
        assert!(glob_matches("corp-*", "corp-vpn"));
        assert!(glob_matches("db?", "db1"));
        assert!(!glob_matches("db?", "db12"));
        assert!(!glob_matches("corp.*", "corpx"));
        assert!(glob_matches("bridge", "bridge"));
    }
}
