//! Names netfence gives Docker objects: minijinja templates rendered with the scope's
//! variables, then sanitised to what Docker accepts.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::scope::Scope;

/// Docker accepts longer names, but 63 keeps a name usable as a DNS label too.
pub const MAX_NAME_LEN: usize = 63;

/// The default naming templates, for networks that the policy names
/// no template for.
pub const RUN_NETWORK_TEMPLATE: &str = "{{ prefix }}-{{ scope_id }}-{{ network }}";
/// Environments of several projects share a host for good: their networks carry the
/// project too.
pub const ENV_NETWORK_OF_PROJECT_TEMPLATE: &str =
    "{{ prefix }}-{{ scope_id }}-{{ project }}-{{ network }}";
pub const ENV_NETWORK_TEMPLATE: &str = "{{ prefix }}-env-{{ env }}";
pub const PROXY_NETWORK_TEMPLATE: &str = "{{ prefix }}-proxy";
/// The Compose project name of a fenced project.
pub const PROJECT_TEMPLATE: &str = "{{ prefix }}-{{ scope_id }}-{{ project }}";

/// The variables a naming template sees.
#[derive(Debug, Clone, Serialize)]
pub struct Vars<'a> {
    pub prefix: &'a str,
    pub scope_kind: &'a str,
    pub scope_id: &'a str,
    pub env: &'a str,
    pub run_id: &'a str,
    pub project: &'a str,
    pub network: &'a str,
    pub service: &'a str,
    pub environ: &'a BTreeMap<String, String>,
}

impl<'a> Vars<'a> {
    pub fn new(
        prefix: &'a str,
        scope: &'a Scope,
        project: &'a str,
        environ: &'a BTreeMap<String, String>,
    ) -> Self {
        let (env, run_id) = match scope {
            Scope::Env(e) => (e.as_str(), ""),
            // A checkout's stack is run-like: templates written for runs name it apart.
            Scope::Run(r) | Scope::Dev(r) => ("", r.as_str()),
        };
        Vars {
            prefix,
            scope_kind: scope.kind(),
            scope_id: scope.id(),
            env,
            run_id,
            project,
            network: "",
            service: "",
            environ,
        }
    }

    pub fn network(&self, network: &'a str) -> Self {
        Vars {
            network,
            ..self.clone()
        }
    }

    pub fn service(&self, service: &'a str) -> Self {
        Vars {
            service,
            ..self.clone()
        }
    }

    /// A variable other than `environ`, by name.
    fn plain(&self, name: &str) -> Option<&'a str> {
        Some(match name {
            "prefix" => self.prefix,
            "scope_kind" => self.scope_kind,
            "scope_id" => self.scope_id,
            "env" => self.env,
            "run_id" => self.run_id,
            "project" => self.project,
            "network" => self.network,
            "service" => self.service,
            _ => return None,
        })
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A misspelt variable must fail loudly, not become an empty piece of a name.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// A naming template that does not parse or render; the text names the template and the
/// reason (minijinja's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("invalid template `{template}`: {reason}")]
    Invalid { template: String, reason: String },
    #[error("template `{template}` could not be rendered: {reason} (variables: prefix, scope_kind, scope_id, env, run_id, project, network, service, environ)")]
    Render { template: String, reason: String },
}

/// Checks a template's syntax without rendering it.
pub fn check_template(template: &str) -> Result<(), TemplateError> {
    environment()
        .template_from_str(template)
        .map(|_| ())
        .map_err(|e| TemplateError::Invalid {
            template: template.to_owned(),
            reason: e.to_string(),
        })
}

/// Renders a template.
pub fn render(template: &str, vars: &Vars<'_>) -> Result<String, TemplateError> {
    if let Some(out) = plain_substitution(template, vars) {
        return Ok(out);
    }
    environment()
        .render_str(template, vars)
        .map_err(|e| TemplateError::Render {
            template: template.to_owned(),
            reason: e
                .detail()
                .map(str::to_owned)
                .unwrap_or_else(|| e.to_string()),
        })
}

/// A template of text and `{{ name }}` pieces naming plain variables, rendered without
/// minijinja: names are rendered once per service (an environment's aliases), and a
/// fresh parse plus a copy of the whole process environment per call was most of the
/// time an environment's plan took. Anything else (filters, `environ`, blocks, trim
/// marks) is minijinja's; `None` hands it over.
fn plain_substitution(template: &str, vars: &Vars<'_>) -> Option<String> {
    if template.contains("{%") || template.contains("{#") {
        return None;
    }
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let inner = &rest[start + 2..];
        let end = inner.find("}}")?;
        out.push_str(vars.plain(inner[..end].trim_matches(' '))?);
        rest = &inner[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// Makes a string a valid Docker object name: `[a-z0-9][a-z0-9_.-]*`, at most
/// `MAX_NAME_LEN` long. A shortened name ends in a hash of the full one, so two long
/// names that share a beginning stay distinct.
pub fn sanitise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut out = trimmed.trim_end_matches('-').to_owned();
    if out.is_empty() {
        out = "x".into();
    }
    if out.len() > MAX_NAME_LEN {
        let hash = short_hash(raw);
        out.truncate(MAX_NAME_LEN - hash.len() - 1);
        out = format!("{}-{hash}", out.trim_end_matches(['-', '.', '_']));
    }
    out
}

/// Compose's own normalisation of a project name: lower-case `[a-z0-9_-]`, starting
/// with a letter or digit.
pub fn project_name(raw: &str) -> String {
    let s: String = raw
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .collect();
    let s = s.trim_start_matches(['_', '-']).to_owned();
    if s.is_empty() {
        "default".into()
    } else {
        s
    }
}

pub fn short_hash(s: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(s.as_bytes());
    h.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_templates_render_as_minijinja_renders_them() {
        let env = BTreeMap::from([("TEAM".to_owned(), "pay".to_owned())]);
        let scope = Scope::Env("prod".into());
        let vars = Vars::new("nf", &scope, "shop", &env).service("api");
        for t in [
            "{{ service }}.{{ project }}",
            "{{service}}-{{ prefix }}-env-{{ env }}",
            "x {{  run_id  }} y {{ scope_kind }}:{{ scope_id }} }} z",
            "plain",
            "",
        ] {
            let direct = plain_substitution(t, &vars).expect("plain");
            let jinja = environment().render_str(t, &vars).unwrap();
            assert_eq!(direct, jinja, "{t}");
        }
        for t in [
            "{{ environ.TEAM }}",
            "{{ service | upper }}",
            "{{- service }}",
            "{% if env %}e{% endif %}",
            "{{ nosuch }}",
            "{{ service",
        ] {
            assert_eq!(plain_substitution(t, &vars), None, "{t}");
        }
        assert!(render("{{ nosuch }}", &vars).is_err(), "still strict");
    }

    #[test]
    fn renders_with_scope_variables() {
        let env = BTreeMap::from([("TEAM".to_owned(), "pay".to_owned())]);
        let scope = Scope::Run("r1".into());
        let vars = Vars::new("nf", &scope, "shop", &env).network("backend");
        assert_eq!(
            render(
                "{{ prefix }}-{{ scope_id }}-{{ network }}-{{ environ.TEAM }}",
                &vars
            )
            .unwrap(),
            "nf-r1-backend-pay"
        );
        let e = render("{{ netwrk }}", &vars).unwrap_err().to_string();
        assert!(e.contains("netwrk") || e.contains("undefined"), "{e}");
    }

    #[test]
    fn sanitise_makes_docker_names() {
        assert_eq!(sanitise("NF-Run/1 Backend"), "nf-run-1-backend");
        assert_eq!(sanitise("--x"), "x");
        let long = "a".repeat(100);
        let s = sanitise(&long);
        assert_eq!(s.len(), MAX_NAME_LEN);
        assert_ne!(sanitise(&format!("{long}b")), s);
    }

    #[test]
    fn project_names_follow_compose() {
        assert_eq!(project_name("My App.v2"), "myappv2");
        assert_eq!(project_name("__x"), "x");
    }
}
