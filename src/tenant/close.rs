//! The closed output: in tenant mode what netfence writes is the final model, so what
//! Compose runs is what netfence judged, whatever environment the deploy has. Tags are
//! decoded as Compose decodes them (or refused where it would not read a plain scalar),
//! every `${VAR}` is resolved from the project's `.env` and the variables the platform
//! names in `tenant.environment` (every literal `$` written `$$`), and every relative
//! path is made absolute against the project directory; env and label files are read in
//! (see `inline`). Anchors, merge keys, `include`
//! and `extends` are already gone: the loader resolved them into the tree.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;

use super::{path, Escape, Kind, Part};
use crate::load::env::Env;
use crate::load::host::{Entry, Host};
use crate::load::interpolate::{self, InterpolationError};
use crate::load::rebase::Rebase;
use crate::yaml::{CoreTag, Mapping, Resolved, Scalar, Value};

/// The document as Compose will run it, and what could not be closed.
#[derive(Debug)]
pub struct Closed {
    pub doc: Value,
    pub escapes: Vec<Escape>,
}

/// What closing reads beyond the document.
pub struct Inputs<'a> {
    /// The process environment (only the names `allowed` picks are read).
    pub environ: &'a BTreeMap<String, String>,
    /// `tenant.environment`: names or globs.
    pub allowed: &'a [String],
    pub project_dir: &'a Path,
    /// Where the project's `.env` and env files are read from.
    pub host: &'a dyn Host,
}

/// Why a file cannot be closed: Compose itself would refuse it.
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    /// A `${VAR}` Compose would refuse: required without a value, or malformed.
    #[error(transparent)]
    Interpolation(#[from] InterpolationError),
    /// The project's `.env`, or an env or label file Compose requires, cannot be read.
    #[error("{0}")]
    Unreadable(String),
}

/// Closes `doc`; `Err` when Compose itself would refuse the file (a required variable
/// without a value, a malformed `${`).
pub fn close(mut doc: Value, inputs: &Inputs<'_>) -> Result<Closed, CloseError> {
    let mut escapes = Vec::new();
    flatten_extends(&mut doc);
    decode_tags(&mut doc, &mut Vec::new(), &mut escapes);
    let env = environment(inputs, &mut escapes).map_err(CloseError::Unreadable)?;
    interpolate::substitute_tree(&mut doc, &|_| true, &|n| env.get(n))?;
    let dir = std::path::absolute(inputs.project_dir)
        .unwrap_or_else(|_| inputs.project_dir.to_path_buf());
    Rebase::new(&dir, &dir, false).model(&mut doc);
    super::inline::inline(&mut doc, &env, &dir, inputs.host)?;
    Ok(Closed { doc, escapes })
}

/// Same-file `extends` merged in, as Compose merges it (the loader keeps them as written
/// for an open output, and resolves every other kind): the closed file says what each
/// service is without a base to read, and its `!reset`/`!override` tags are spent.
fn flatten_extends(doc: &mut Value) {
    let Some(services) = doc.get_mut("services").and_then(Value::as_mapping_mut) else {
        return;
    };
    let names: Vec<String> = services
        .keys()
        .filter_map(crate::yaml::scalar_string)
        .collect();
    for name in &names {
        flatten_one(services, name, &mut Vec::new());
    }
}

/// `name` with its base merged under it (bases first); `seen` stops a cycle the loader
/// would have refused already.
fn flatten_one(services: &mut Mapping, name: &str, seen: &mut Vec<String>) {
    let Some(base) = services
        .get(name)
        .and_then(|s| s.get("extends"))
        .and_then(|e| {
            crate::yaml::scalar_string(e)
                .or_else(|| e.get("service").and_then(crate::yaml::scalar_string))
        })
    else {
        return;
    };
    if seen.iter().any(|s| s == name) || !services.contains_key(base.as_str()) {
        return;
    }
    seen.push(name.to_owned());
    flatten_one(services, &base, seen);
    let Some(mut merged) = services.get(base.as_str()).cloned() else {
        return;
    };
    let Some(Value::Mapping(mut own)) = services.get(name).cloned() else {
        return;
    };
    own.shift_remove("extends");
    crate::merge::merge_service(&mut merged, Value::Mapping(own));
    services.insert(crate::yaml::key(name), merged);
}

/// The variables a tenant's `${VAR}` reads: the platform's, by name, over the project's
/// `.env` when that is a regular file inside the project.
fn environment(inputs: &Inputs<'_>, escapes: &mut Vec<Escape>) -> Result<Env, String> {
    let picked: BTreeMap<String, String> = inputs
        .environ
        .iter()
        .filter(|(k, _)| {
            inputs
                .allowed
                .iter()
                .any(|g| super::templates::glob_matches(g, k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    match dotenv_inside(inputs.host, inputs.project_dir) {
        Ok(()) => {
            Env::project_on(inputs.host, picked, inputs.project_dir).map_err(|e| e.to_string())
        }
        Err(why) => {
            escapes.push(Escape::new(
                Kind::OutsideFile,
                "file .env",
                path(&[".env"], None),
                why,
                None,
            ));
            Ok(Env::process(picked))
        }
    }
}

/// `Ok` when the project has no `.env`, or one that is a regular file inside it.
fn dotenv_inside(host: &dyn Host, dir: &Path) -> Result<(), String> {
    let dotenv = dir.join(".env");
    let entry = host.entry(&dotenv);
    if entry == Entry::Missing {
        return Ok(());
    }
    if entry == Entry::Link {
        let home = host.canonical(dir).unwrap_or_else(|| dir.to_path_buf());
        let real = host.canonical(&dotenv).ok_or_else(|| {
            "the project's `.env` is a link that leads nowhere readable".to_owned()
        })?;
        if !real.starts_with(&home) || host.entry(&real) != Entry::File {
            return Err(format!(
                "the project's `.env` is a link to `{}` (from the project's directory), outside it: Compose would read another file's variables (another project's secrets, say) into this one",
                crate::load::rebase::relative(&home, &real).display()
            ));
        }
        return Ok(());
    }
    if entry != Entry::File {
        return Err("the project's `.env` is not a regular file".into());
    }
    Ok(())
}

/// Replaces every tagged node by what Compose makes of it; a tag Compose would not read
/// as a plain value is an escape (its node is left as written and refused).
fn decode_tags(v: &mut Value, at: &mut Vec<Part>, escapes: &mut Vec<Escape>) {
    match v {
        Value::Scalar(s) if s.tag().is_some() => match decode_scalar(s) {
            Ok(plain) => *v = Value::Scalar(plain),
            Err(why) => escapes.push(tag_escape(at, why)),
        },
        Value::Tagged(t) => {
            let why = format!(
                "the tag `!{}` asks the YAML reader for a type netfence does not read as Compose does",
                t.tag.as_str()
            );
            escapes.push(tag_escape(at, why));
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                at.push(Part::Index(i));
                decode_tags(item, at, escapes);
                at.pop();
            }
        }
        Value::Mapping(m) => {
            decode_keys(m, at, escapes);
            for (k, item) in m.iter_mut() {
                at.push(Part::Key(
                    crate::yaml::scalar_string(k).unwrap_or_else(|| "?".into()),
                ));
                decode_tags(item, at, escapes);
                at.pop();
            }
        }
        Value::Scalar(_) => {}
    }
}

/// Keys are decoded too: `!!binary aW8ubmV0ZmVuY2Uuc2NvcGU=` as a label's key is
/// `io.netfence.scope` to Compose. Two keys that decode to one are refused, as the YAML
/// reader refuses a key given twice.
fn decode_keys(m: &mut Mapping, at: &[Part], escapes: &mut Vec<Escape>) {
    let tagged = |k: &Value| {
        matches!(k, Value::Tagged(_)) || k.as_scalar().is_some_and(|s| s.tag().is_some())
    };
    if !m.keys().any(tagged) {
        return;
    }
    let mut decoded = Mapping::with_capacity(m.len());
    for (k, v) in std::mem::take(m) {
        let key = match &k {
            Value::Scalar(s) if s.tag().is_some() => match decode_scalar(s) {
                Ok(plain) => Value::Scalar(plain),
                Err(why) => {
                    escapes.push(tag_escape(at, format!("a key: {why}")));
                    k
                }
            },
            Value::Tagged(t) => {
                let why = format!("a key tagged `!{}`", t.tag.as_str());
                escapes.push(tag_escape(at, why));
                k
            }
            _ => k,
        };
        if decoded.contains_key(&key) {
            let name = crate::yaml::scalar_string(&key).unwrap_or_default();
            escapes.push(tag_escape(
                at,
                format!("two keys read as `{name}` once decoded"),
            ));
        }
        decoded.insert(key, v);
    }
    *m = decoded;
}

fn tag_escape(at: &[Part], why: String) -> Escape {
    let subject = match at {
        [Part::Key(section), Part::Key(name), ..] if section == "services" => {
            format!("service {name}")
        }
        _ => "the file".into(),
    };
    Escape::new(
        Kind::Tag,
        subject,
        at.to_vec(),
        format!("{why}; write the value without the tag"),
        None,
    )
}

/// An untagged scalar that reads as the tagged one does (go-yaml's decoding of the core
/// tags: `!!binary` is its decoded bytes as a string).
fn decode_scalar(s: &Scalar) -> Result<Scalar, String> {
    let text = s.text();
    match s.tag() {
        Some(CoreTag::Binary) => {
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .map_err(|e| format!("`!!binary` value is not base64 ({e})"))?;
            let decoded = String::from_utf8(bytes)
                .map_err(|_| "`!!binary` value decodes to bytes that are not text".to_owned())?;
            Ok(Scalar::string(decoded))
        }
        Some(CoreTag::Timestamp) => {
            Err("`!!timestamp` makes a time value that Compose does not read as text".into())
        }
        _ => match s.resolve() {
            Resolved::Str(t) => Ok(Scalar::string(t)),
            Resolved::Null => Ok(Scalar::plain("null")),
            _ => Ok(Scalar::plain(text)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(text: &str, environ: &[(&str, &str)], allowed: &[&str], dir: &Path) -> Closed {
        try_close(text, environ, allowed, dir).unwrap()
    }

    fn try_close(
        text: &str,
        environ: &[(&str, &str)],
        allowed: &[&str],
        dir: &Path,
    ) -> Result<Closed, CloseError> {
        let doc = crate::yaml::from_str(text).unwrap();
        let environ: BTreeMap<String, String> = environ
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let allowed: Vec<String> = allowed.iter().map(|s| (*s).to_owned()).collect();
        close(
            doc,
            &Inputs {
                environ: &environ,
                allowed: &allowed,
                project_dir: dir,
                host: &crate::load::host::Disk,
            },
        )
    }

    fn out(c: &Closed) -> String {
        crate::yaml::to_string(&c.doc)
    }

    #[test]
    fn binary_tags_are_decoded_as_compose_decodes_them() {
        let dir = tempfile::tempdir().unwrap();
        let c = closed(
            "services:\n  a:\n    privileged: !!binary dHJ1ZQ==\n    network_mode: !!binary aG9zdA==\n    user: !!str 0022\n",
            &[],
            &[],
            dir.path(),
        );
        assert!(c.escapes.is_empty(), "{:?}", c.escapes);
        let text = out(&c);
        assert!(text.contains("privileged: 'true'"), "{text}");
        assert!(text.contains("network_mode: host"), "{text}");
        assert!(text.contains("user: '0022'"), "{text}");
        assert!(!text.contains("!!"), "{text}");
    }

    #[test]
    fn a_same_file_extends_is_merged_in_and_its_reset_spent() {
        let dir = tempfile::tempdir().unwrap();
        let c = closed(
            "services:\n  init: {image: alpine, command: sleep, cap_add: [CHOWN]}\n  base:\n    extends: {service: init}\n    command: !reset\n    cap_add: [KILL]\n  top:\n    extends: base\n",
            &[],
            &[],
            dir.path(),
        );
        assert!(c.escapes.is_empty(), "{:?}", c.escapes);
        let text = out(&c);
        assert!(
            !text.contains("extends") && !text.contains("!reset"),
            "{text}"
        );
        let top = c.doc.get("services").and_then(|s| s.get("top")).unwrap();
        assert_eq!(
            top.get("image")
                .and_then(crate::yaml::scalar_string)
                .as_deref(),
            Some("alpine")
        );
        assert!(top.get("command").is_none(), "{text}");
        assert_eq!(
            crate::yaml::to_string(top.get("cap_add").unwrap()),
            "- CHOWN\n- KILL\n"
        );
    }

    #[test]
    fn tagged_keys_are_decoded_so_a_hidden_label_key_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let c = closed(
            "services:\n  a:\n    labels:\n      !!binary aW8ubmV0ZmVuY2Uuc2NvcGU=: env:other\n",
            &[],
            &[],
            dir.path(),
        );
        assert!(c.escapes.is_empty(), "{:?}", c.escapes);
        assert!(
            out(&c).contains("io.netfence.scope: env:other"),
            "{}",
            out(&c)
        );
        let twice = closed(
            "services:\n  a:\n    labels:\n      !!binary YQ==: 1\n      a: 2\n",
            &[],
            &[],
            dir.path(),
        );
        assert_eq!(twice.escapes.len(), 1, "{:?}", twice.escapes);
    }

    #[test]
    fn a_tag_compose_would_not_read_as_text_is_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let c = closed(
            "services:\n  a:\n    image: !custom busybox\n    user: !!binary /w==\n",
            &[],
            &[],
            dir.path(),
        );
        let keys: Vec<&str> = c.escapes.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["services.a.image", "services.a.user"]);
        assert!(c
            .escapes
            .iter()
            .all(|e| e.kind == Kind::Tag && e.grant.is_none()));
    }

    #[test]
    fn only_the_named_variables_and_the_project_env_are_read_and_dollars_are_escaped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".env"), "FROM_DOTENV=d\n").unwrap();
        let c = closed(
            "services:\n  a:\n    image: busybox\n    environment:\n      T: ${PLATFORM_TOKEN}\n      R: ${REGION}\n      D: ${FROM_DOTENV}\n      L: a$$b\n",
            &[("PLATFORM_TOKEN", "secret"), ("REGION", "eu")],
            &["REG*"],
            dir.path(),
        );
        let text = out(&c);
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("R: eu"), "{text}");
        assert!(text.contains("D: d"), "{text}");
        assert!(text.contains("L: a$$b"), "{text}");
    }

    #[test]
    fn relative_paths_become_absolute_and_env_files_are_read_in() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.env"), "FROM_FILE=${TOKEN}\nKEPT=x\n").unwrap();
        let c = closed(
            "services:\n  a:\n    image: busybox\n    volumes: [\"${DATA_DIR:-./data}:/data\"]\n    env_file: ${ENV_FILE:-./app.env}\n    environment: [KEPT=y, TOKEN]\n",
            &[("TOKEN", "secret")],
            &[],
            dir.path(),
        );
        let text = out(&c);
        let abs = std::path::absolute(dir.path()).unwrap();
        assert!(
            text.contains(&format!("{}/data:/data", abs.display())),
            "{text}"
        );
        assert!(
            !text.contains("env_file") && !text.contains("secret"),
            "{text}"
        );
        assert!(
            text.contains("FROM_FILE: ''") && text.contains("KEPT: y"),
            "{text}"
        );
        assert!(
            !text.contains("TOKEN:"),
            "an unset bare name sets nothing: {text}"
        );
    }

    #[test]
    fn a_dotenv_linked_outside_the_project_is_not_read() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("other.env"), "SECRET=theirs\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("other.env"), dir.path().join(".env"))
            .unwrap();
        let c = closed(
            "services:\n  a:\n    image: busybox\n    environment: {S: \"${SECRET}\"}\n",
            &[],
            &[],
            dir.path(),
        );
        assert!(!out(&c).contains("theirs"));
        assert_eq!(c.escapes.len(), 1);
        assert_eq!(c.escapes[0].kind, Kind::OutsideFile);
    }

    #[test]
    fn a_required_variable_without_a_value_is_compose_s_own_error() {
        let text = "services:\n  a: {image: \"${IMG:?set IMG}\"}\n";
        let e = try_close(text, &[], &[], Path::new("/nonexistent")).unwrap_err();
        assert!(matches!(e, CloseError::Interpolation(_)), "{e:?}");
        assert!(e.to_string().contains("IMG"), "{e}");
    }

    #[test]
    fn the_last_entry_of_a_name_wins_and_an_unset_bare_name_unsets_it() {
        let dir = tempfile::tempdir().unwrap();
        let c = closed(
            "services:\n  a:\n    image: busybox\n    environment: [A=1, A, B=2, B=3]\n",
            &[],
            &[],
            dir.path(),
        );
        let text = out(&c);
        assert!(!text.contains("A:") && text.contains("B: '3'"), "{text}");
    }
}
