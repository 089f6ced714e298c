//! The unit of isolation: one test run (`run:<id>`), one deployment environment
//! (`env:<name>`) or one checkout on a developer's machine (`dev:<slug>`, see
//! [`checkout`](crate::checkout)).

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Run(String),
    Env(String),
    /// A checkout's stack, made by `netfence up`: named like a run, kept like an
    /// environment (until `netfence down`; `gc` leaves it unless asked).
    Dev(String),
}

impl Scope {
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Run(_) => "run",
            Scope::Env(_) => "env",
            Scope::Dev(_) => "dev",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Scope::Run(id) | Scope::Env(id) | Scope::Dev(id) => id,
        }
    }

    pub fn is_env(&self) -> bool {
        matches!(self, Scope::Env(_))
    }

    pub fn is_dev(&self) -> bool {
        matches!(self, Scope::Dev(_))
    }

    /// Parses `run:<id>` / `env:<name>` / `dev:<slug>`, the form of the `io.netfence.scope` label.
    pub fn parse(s: &str) -> Option<Scope> {
        let (kind, id) = s.split_once(':')?;
        if !valid_id(id) {
            return None;
        }
        match kind {
            "run" => Some(Scope::Run(id.to_owned())),
            "env" => Some(Scope::Env(id.to_owned())),
            "dev" => Some(Scope::Dev(id.to_owned())),
            _ => None,
        }
    }

    /// A fresh short random run id: 8 lower-case letters and digits.
    pub fn random_run() -> Scope {
        use rand::Rng;
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::thread_rng();
        // Starts with a letter so that names built from it never look numeric.
        let mut id = String::with_capacity(8);
        id.push(ALPHABET[rng.gen_range(0..26)] as char);
        for _ in 1..8 {
            id.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
        }
        Scope::Run(id)
    }
}

/// What a scope id may be: the one message for every place an id comes from.
pub const ID_RULE: &str = "expected 1 to 63 of [a-zA-Z0-9_.-], starting with a letter or digit";

/// A string that cannot be a scope id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid scope id: {ID_RULE}")]
pub struct InvalidId(pub String);

/// An id the caller gave, refused: bad input.
impl From<InvalidId> for crate::Error {
    fn from(e: InvalidId) -> crate::Error {
        crate::Error::Usage(e.to_string())
    }
}

/// `id` as a scope id, or why it cannot be one.
pub fn check_id(id: &str) -> Result<String, InvalidId> {
    if valid_id(id) {
        Ok(id.to_owned())
    } else {
        Err(InvalidId(id.to_owned()))
    }
}

/// A scope id becomes part of Docker object names and labels.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 63
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How one invocation's scope was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chosen {
    /// Given: `--run-id`, `--env`, a checkout, or a library caller.
    Given(Scope),
    /// The `x-netfence` record of an input fenced before: fencing it again keeps it.
    Recorded(Scope),
    /// Neither: a new run under a random id, which the caller should tell the user.
    Fresh(Scope),
}

impl Chosen {
    pub fn scope(&self) -> &Scope {
        match self {
            Chosen::Given(s) | Chosen::Recorded(s) | Chosen::Fresh(s) => s,
        }
    }

    pub fn into_scope(self) -> Scope {
        match self {
            Chosen::Given(s) | Chosen::Recorded(s) | Chosen::Fresh(s) => s,
        }
    }
}

/// The one place a scope is chosen: the given one, else the one the input records,
/// else `fresh()` (a new run: [`Scope::random_run`], or one a command names, such as
/// `run:audit`). The command layer calls it once per invocation; the plan takes what it
/// chose.
pub fn choose(
    given: Option<Scope>,
    recorded: Option<Scope>,
    fresh: impl FnOnce() -> Scope,
) -> Chosen {
    match (given, recorded) {
        (Some(s), _) => Chosen::Given(s),
        (None, Some(s)) => Chosen::Recorded(s),
        (None, None) => Chosen::Fresh(fresh()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_refuses_bad_ids() {
        assert_eq!(Scope::parse("run:abc"), Some(Scope::Run("abc".into())));
        assert_eq!(
            Scope::parse("env:staging").unwrap().to_string(),
            "env:staging"
        );
        assert_eq!(
            Scope::parse("dev:shop-1a2b3c4d"),
            Some(Scope::Dev("shop-1a2b3c4d".into()))
        );
        assert_eq!(Scope::parse("run:"), None);
        assert_eq!(Scope::parse("run:a b"), None);
        assert_eq!(Scope::parse("job:x"), None);
    }

    #[test]
    fn a_bad_id_is_explained() {
        assert_eq!(check_id("ci-42").unwrap(), "ci-42");
        let e = check_id("-x").unwrap_err().to_string();
        assert!(
            e.contains("`-x` is not a valid scope id") && e.contains(ID_RULE),
            "{e}"
        );
    }

    #[test]
    fn the_given_scope_wins_then_the_record_then_a_new_run() {
        let env = Scope::Env("prod".into());
        let run = Scope::Run("r1".into());
        let fresh = || Scope::Run("new".into());
        assert_eq!(
            choose(Some(env.clone()), Some(run.clone()), fresh),
            Chosen::Given(env)
        );
        assert_eq!(
            choose(None, Some(run.clone()), fresh),
            Chosen::Recorded(run)
        );
        assert_eq!(choose(None, None, fresh), Chosen::Fresh(fresh()));
    }

    #[test]
    fn random_ids_are_valid_and_differ() {
        let a = Scope::random_run();
        let b = Scope::random_run();
        assert!(valid_id(a.id()));
        assert_ne!(a, b);
    }
}
