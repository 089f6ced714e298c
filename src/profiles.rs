//! Compose profiles: which ones are active, and which services they leave out.
//!
//! netfence fences every service whatever its `profiles:` say, so that turning a profile
//! on later needs no new rewrite. Only `run` and `up` care which profiles are active:
//! they start (and wait for) the services Compose would start, and no others.
//!
//! Compose's own rules, followed here: `--profile NAME` (repeatable) wins; without it,
//! `COMPOSE_PROFILES` (comma-separated) from the environment, else from the project's
//! `.env`. `*` activates every profile. A service without `profiles:` is always active;
//! one with them is active when any of its profiles is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::yaml::Value;

/// The variable Compose reads the active profiles from.
pub const ENV_VAR: &str = "COMPOSE_PROFILES";

/// The profiles of one plan: which are active, and the services only inactive ones
/// enable (fenced, not started).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProfilePlan {
    /// Active profile names, in the order given (`*` for every profile).
    pub active: Vec<String>,
    /// Where `active` came from: `--profile`, `COMPOSE_PROFILES`, or `.env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Services whose profiles are all inactive: `run` and `up` do not start them.
    pub inactive_services: Vec<String>,
}

impl ProfilePlan {
    /// `debug, test (from COMPOSE_PROFILES)`, or `None` when no profile is active.
    pub fn describe_active(&self) -> Option<String> {
        (!self.active.is_empty()).then(|| {
            format!(
                "{} (from {})",
                self.active.join(", "),
                self.from.as_deref().unwrap_or("--profile")
            )
        })
    }

    /// No profile active and no service with profiles: nothing worth showing.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty() && self.inactive_services.is_empty()
    }

    /// Is `service` started under the active profiles?
    pub fn starts(&self, service: &str) -> bool {
        !self.inactive_services.iter().any(|s| s == service)
    }
}

/// The profiles of `doc` under `given` (the `--profile` values), `environ` and the
/// project directory's `.env`. That `.env` is read only when a service has profiles and
/// neither `given` nor `environ` decides: then it is the answer Compose finds there.
pub fn plan(
    doc: &Value,
    given: &[String],
    environ: &BTreeMap<String, String>,
    project_dir: &Path,
) -> ProfilePlan {
    let services: Vec<(&str, Vec<&str>)> = services(doc).collect();
    let profiled = services.iter().any(|(_, p)| !p.is_empty());
    let decided = !given.is_empty() || environ.contains_key(ENV_VAR);
    if !profiled && !decided {
        return ProfilePlan::default();
    }
    let (active, from) = active(given, environ, project_dir);
    let on: BTreeSet<&str> = active.iter().map(String::as_str).collect();
    let inactive_services = services
        .into_iter()
        .filter(|(_, profiles)| !enabled(profiles, &on))
        .map(|(name, _)| name.to_owned())
        .collect();
    ProfilePlan {
        active,
        from,
        inactive_services,
    }
}

/// The active profiles and where they came from, as Compose chooses them.
fn active(
    given: &[String],
    environ: &BTreeMap<String, String>,
    project_dir: &Path,
) -> (Vec<String>, Option<String>) {
    if !given.is_empty() {
        return (
            dedup(given.iter().map(String::as_str)),
            Some("--profile".into()),
        );
    }
    if let Some(v) = environ.get(ENV_VAR) {
        return (split(v), Some(ENV_VAR.into()));
    }
    // Compose reads its own COMPOSE_* settings from the project's `.env` too. A `.env`
    // that cannot be read is Compose's to report, as it reads the file again.
    let dotenv = project_dir.join(".env");
    if dotenv.is_file() {
        let read = crate::load::env::read_file(&dotenv, environ).unwrap_or_default();
        if let Some((_, v)) = read.into_iter().rev().find(|(k, _)| k == ENV_VAR) {
            return (split(&v), Some(".env".into()));
        }
    }
    (Vec::new(), None)
}

/// `COMPOSE_PROFILES=a, b,,c`: names separated by commas, blanks ignored.
fn split(value: &str) -> Vec<String> {
    dedup(value.split(',').map(str::trim).filter(|s| !s.is_empty()))
}

fn dedup<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    names
        .filter(|n| seen.insert(*n))
        .map(str::to_owned)
        .collect()
}

/// Every service with its `profiles:` (empty when it has none).
fn services(doc: &Value) -> impl Iterator<Item = (&str, Vec<&str>)> {
    let services = doc
        .get("services")
        .map(crate::yaml::untag)
        .and_then(Value::as_mapping);
    services
        .into_iter()
        .flat_map(|m| m.iter())
        .filter_map(|(k, v)| {
            let name = k.as_str()?;
            let profiles = crate::yaml::untag(v)
                .get("profiles")
                .map(crate::yaml::untag)
                .and_then(Value::as_sequence)
                .map(|s| {
                    s.iter()
                        .filter_map(|p| crate::yaml::untag(p).as_str())
                        .collect()
                })
                .unwrap_or_default();
            Some((name, profiles))
        })
}

fn enabled(profiles: &[&str], on: &BTreeSet<&str>) -> bool {
    profiles.is_empty() || on.contains("*") || profiles.iter().any(|p| on.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "services:\n  app: {image: x}\n  dbg: {image: x, profiles: [debug]}\n  both: {image: x, profiles: [debug, ops]}\n";

    fn doc() -> Value {
        crate::yaml::parse(&crate::Source::File("t.yml".into()), DOC).unwrap()
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn nowhere() -> &'static Path {
        Path::new("/nonexistent-netfence-project")
    }

    #[test]
    fn without_profiles_only_unprofiled_services_start() {
        let p = plan(&doc(), &[], &env(&[]), nowhere());
        assert!(p.active.is_empty());
        assert_eq!(p.inactive_services, ["dbg", "both"]);
        assert!(p.starts("app") && !p.starts("dbg"));
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        let e = env(&[(ENV_VAR, "debug")]);
        let p = plan(&doc(), &["ops".into(), "ops".into()], &e, nowhere());
        assert_eq!(p.active, ["ops"]);
        assert_eq!(p.from.as_deref(), Some("--profile"));
        assert_eq!(p.inactive_services, ["dbg"]);
    }

    #[test]
    fn the_environment_is_split_on_commas_and_star_is_everything() {
        let p = plan(&doc(), &[], &env(&[(ENV_VAR, " debug, ,x ")]), nowhere());
        assert_eq!(p.active, ["debug", "x"]);
        assert!(p.inactive_services.is_empty());
        let all = plan(&doc(), &["*".into()], &env(&[]), nowhere());
        assert!(all.inactive_services.is_empty());
    }

    #[test]
    fn the_project_dotenv_is_read_when_the_environment_is_silent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "COMPOSE_PROFILES=ops\n").unwrap();
        let p = plan(&doc(), &[], &env(&[]), dir.path());
        assert_eq!(
            (p.active.clone(), p.from.as_deref()),
            (vec!["ops".to_owned()], Some(".env"))
        );
        assert_eq!(p.inactive_services, ["dbg"]);
        // An empty variable in the environment is a choice: no profile.
        let p = plan(&doc(), &[], &env(&[(ENV_VAR, "")]), dir.path());
        assert!(p.active.is_empty());
    }
}
