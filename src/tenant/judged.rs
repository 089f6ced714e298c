//! The file as Compose will read it where a tenant's escape would hide: `${VAR}` in a
//! setting that reaches the host is filled in at deploy time, from variables the tenant
//! may set (its own `.env` among them), so netfence judges what it can know — the
//! platform's environment, the project's `.env`, the defaults — and refuses the
//! interpolation itself unless the platform vouches for the variables
//! (`tenant.allow.interpolation`). The project's `.env` may also carry Compose's own
//! settings (`COMPOSE_PROJECT_NAME` over the fenced name): always refused.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use super::{path, Escape, Kind, Part};
use crate::load::env::{read_file_on, Env};
use crate::load::host::Host;
use crate::yaml::{untag, Mapping, Value};

/// Service settings that reach past the fence when they say the wrong thing.
const SCALARS: &[&str] = &[
    "env_file",
    "label_file",
    "network_mode",
    "pid",
    "ipc",
    "uts",
    "userns_mode",
    "cgroup",
    "privileged",
];
const LISTS: &[&str] = &[
    "cap_add",
    "devices",
    "security_opt",
    "volumes_from",
    "volumes",
];

/// Variables of `.env` that are Compose's settings rather than the file's values.
const COMPOSE_SETTINGS: &[&str] = &[
    "COMPOSE_PROJECT_NAME",
    "COMPOSE_FILE",
    "COMPOSE_PATH_SEPARATOR",
    "COMPOSE_PROFILES",
    "COMPOSE_ENV_FILES",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
];

/// Whether `text` holds a `$` Compose substitutes (`$$` is a literal `$`).
pub(super) fn interpolates(text: &str) -> bool {
    crate::load::interpolate::has_variables(text)
}

/// The document with every judged setting interpolated, and the escapes the
/// interpolation itself is.
pub(super) fn view<'d>(
    doc: &'d Value,
    environ: &BTreeMap<String, String>,
    home: Option<(&Path, &dyn Host)>,
    out: &mut Vec<Escape>,
) -> Cow<'d, Value> {
    // A closed document (tenant mode) has nothing left to fill in: judged as it is.
    if !has_variables(doc) {
        return Cow::Borrowed(doc);
    }
    let env = home
        .and_then(|(d, host)| Env::project_on(host, environ.clone(), d).ok())
        .unwrap_or_else(|| Env::process(environ.clone()));
    let mut judged = doc.clone();
    let Some(services) = judged
        .as_mapping_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(Value::as_mapping_mut)
    else {
        return Cow::Owned(judged);
    };
    for (name, svc) in services.iter_mut() {
        let (Some(name), Some(svc)) = (name.as_str(), svc.as_mapping_mut()) else {
            continue;
        };
        interpolate_service(name, svc, &env, out);
    }
    interpolate_top_level(&mut judged, &env, out);
    Cow::Owned(judged)
}

/// Whether any value of the document has a `${VAR}` Compose would fill in.
fn has_variables(v: &Value) -> bool {
    match v {
        Value::Scalar(s) => s.text().contains('$') && interpolates(s.text()),
        Value::Sequence(items) => items.iter().any(has_variables),
        Value::Mapping(m) => m.values().any(has_variables),
        Value::Tagged(t) => has_variables(&t.value),
    }
}

/// The value under `keys` (a path of mapping keys), if the path is there.
fn value_at<'a>(m: &'a mut Mapping, keys: &[&str]) -> Option<&'a mut Value> {
    let (last, parents) = keys.split_last()?;
    let mut m = m;
    for k in parents {
        m = m.get_mut(*k)?.as_mapping_mut()?;
    }
    m.get_mut(*last)
}

/// A network's `external`, `driver` and `name`, a volume's bind device: what Compose
/// makes of them decides whose network or which host path it is.
fn interpolate_top_level(doc: &mut Value, env: &Env, out: &mut Vec<Escape>) {
    let Some(top) = doc.as_mapping_mut() else {
        return;
    };
    for (section, fields) in [
        ("networks", &["external", "driver", "name"][..]),
        (
            "volumes",
            &["driver_opts.device", "driver_opts.o", "driver_opts.type"][..],
        ),
        ("secrets", &["file"][..]),
        ("configs", &["file"][..]),
    ] {
        let Some(items) = top.get_mut(section).and_then(Value::as_mapping_mut) else {
            continue;
        };
        let singular = section.trim_end_matches('s');
        for (name, item) in items.iter_mut() {
            let (Some(name), Some(item)) = (name.as_str(), item.as_mapping_mut()) else {
                continue;
            };
            for field in fields {
                let keys: Vec<&str> = field.split('.').collect();
                let mut at = path(&[section, name], None);
                at.extend(keys.iter().map(|k| Part::Key((*k).to_owned())));
                let v = value_at(item, &keys);
                if let Some(v) = v {
                    judge(&format!("{singular} {name}"), v, at, env, out);
                }
            }
        }
    }
}

fn interpolate_service(name: &str, svc: &mut Mapping, env: &Env, out: &mut Vec<Escape>) {
    for field in SCALARS {
        if let Some(v) = svc.get_mut(*field) {
            let subject = format!("service {name}");
            judge(
                &subject,
                v,
                path(&["services", name, field], None),
                env,
                out,
            );
        }
    }
    for field in LISTS {
        let Some(Value::Sequence(items)) = svc.get_mut(*field) else {
            continue;
        };
        for (i, item) in items.iter_mut().enumerate() {
            let at = path(&["services", name, field], Some(i));
            match item {
                Value::Mapping(m) => {
                    for key in ["type", "source", "path"] {
                        if let Some(v) = m.get_mut(key) {
                            let mut at = at.clone();
                            at.push(Part::Key(key.to_owned()));
                            judge(&format!("service {name}"), v, at, env, out);
                        }
                    }
                }
                _ => judge(&format!("service {name}"), item, at, env, out),
            }
        }
    }
}

/// Replaces an interpolated scalar by what Compose would make of it here.
fn judge(subject: &str, v: &mut Value, at: Vec<Part>, env: &Env, out: &mut Vec<Escape>) {
    let Some(text) = untag(v).as_str().map(str::to_owned) else {
        return;
    };
    if !interpolates(&text) {
        return;
    }
    out.push(Escape::new(
        Kind::Interpolated,
        subject,
        at,
        format!("`{text}` is filled in when Compose deploys, from variables the tenant may set (its `.env` among them): netfence cannot judge what it becomes; write the value itself"),
        None,
    ));
    // An unset variable without a default is an error for Compose (`:?`) or empty:
    // either way not an escape, so the text as written is judged.
    if let Ok(value) = env.eval(&text) {
        *v = Value::string(value);
    }
}

/// Compose's own settings in the project's `.env`: they would override what netfence
/// decided (the project name above all), whatever the file says.
pub(super) fn check_dotenv(host: &dyn Host, project_dir: Option<&Path>, out: &mut Vec<Escape>) {
    let Some(dir) = project_dir else {
        return;
    };
    let dotenv = dir.join(".env");
    if !host.is_file(&dotenv) {
        return;
    }
    let Ok(vars) = read_file_on(host, &dotenv, &BTreeMap::new()) else {
        return;
    };
    for (key, value) in vars {
        if COMPOSE_SETTINGS.contains(&key.as_str()) {
            out.push(Escape::new(
                Kind::ComposeSetting,
                "the project's .env",
                vec![Part::Key(key.clone())],
                format!("it sets `{key}={value}`, a setting of Compose itself that would override what the platform and netfence decide (the project name, the files, the engine); remove it"),
                None,
            ));
        }
    }
}
