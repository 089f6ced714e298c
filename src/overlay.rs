//! The fence as a Compose override file: given after the
//! user's own files (`docker compose -f compose.yml -f fence.yml`), Compose reads what
//! it reads from the full rewrite, and the user's files stay as they are.
//!
//! The overlay is the difference between two views of the project as Compose builds
//! them: what it reads from the user's files, and what it reads from the full rewrite.
//! Where they differ, the overlay states the rewrite's value with `!override` (Compose
//! drops what the earlier files said there, then takes this) or removes the key with
//! `!reset`. Mappings that Compose merges key by key without special rules (the top
//! level, `services`, each service, `networks`, each network, `volumes`, each volume,
//! `x-netfence`) are descended into, so the overlay restates only what netfence
//! changes; every other value is replaced whole. Replacing whole values also makes the
//! overlay safe to give twice.

use crate::error::{Error, Result, Source};
use crate::yaml::{key, untag, Mapping, Tag, TaggedValue, Value};

/// Mappings that are compared key by key (`*` is any one key).
const DESCEND: &[&[&str]] = &[
    &[],
    &["services"],
    &["services", "*"],
    &["networks"],
    &["networks", "*"],
    &["volumes"],
    &["volumes", "*"],
    &["x-netfence"],
];

/// Services resolved through a same-file `extends` at most this deep: the loader has
/// already refused cycles; this only bounds the work on input it did not see.
const MAX_EXTENDS_DEPTH: usize = 64;

/// The override file that turns `original` (the user's files, merged as Compose merges
/// them) into `fenced` (the full rewrite of them). `source` names the input in errors.
pub fn make(original: &Value, fenced: &Value, source: &Source) -> Result<Value> {
    let before = effective(original, source)?;
    let after = effective(fenced, source)?;
    let mut path = Vec::new();
    Ok(
        diff_mapping(&mut path, as_mapping(&before), as_mapping(&after))
            .unwrap_or_default()
            .into(),
    )
}

fn as_mapping(v: &Value) -> &Mapping {
    static EMPTY: std::sync::LazyLock<Mapping> = std::sync::LazyLock::new(Mapping::new);
    untag(v).as_mapping().unwrap_or(&EMPTY)
}

/// The entries that turn `before` into `after`; `None` when they already agree.
fn diff_mapping(path: &mut Vec<String>, before: &Mapping, after: &Mapping) -> Option<Mapping> {
    let mut out = Mapping::new();
    for (k, new) in after.iter() {
        let Some(name) = k.as_str() else {
            continue;
        };
        let old = before.get(k);
        if old == Some(new) {
            continue;
        }
        path.push(name.to_owned());
        let entry = match old {
            Some(old) if descends(path) && is_mapping(old) && is_mapping(new) => {
                diff_mapping(path, as_mapping(old), as_mapping(new)).map(Value::Mapping)
            }
            _ if descends(path) && old.is_none() && is_mapping(new) => {
                // Stated key by key even where nothing was: each entry then replaces
                // whatever an earlier file (an include, say) may declare under it.
                diff_mapping(path, &Mapping::new(), as_mapping(new)).map(Value::Mapping)
            }
            _ => Some(replacement(old, new)),
        };
        path.pop();
        if let Some(e) = entry {
            out.insert(k.clone(), e);
        }
    }
    for (k, _) in before.iter() {
        if !after.contains_key(k) && k.as_str().is_some() {
            out.insert(k.clone(), tagged("!reset", Value::null()));
        }
    }
    (!out.is_empty()).then_some(out)
}

fn descends(path: &[String]) -> bool {
    DESCEND.iter().any(|pattern| {
        pattern.len() == path.len() && pattern.iter().zip(path).all(|(p, k)| *p == "*" || p == k)
    })
}

fn is_mapping(v: &Value) -> bool {
    untag(v).is_mapping()
}

/// The rewrite's value for a key whose value changes. A scalar over a scalar is simply
/// the later value in Compose's merge; anything else is merged with what came before
/// (lists appended, mappings combined), so it is marked to replace it.
fn replacement(old: Option<&Value>, new: &Value) -> Value {
    let new = untag(new).clone();
    let scalar_over_scalar = matches!(new, Value::Scalar(_))
        && !new.is_null()
        && old.is_none_or(|o| matches!(untag(o), Value::Scalar(_)));
    if scalar_over_scalar {
        new
    } else {
        tagged("!override", new)
    }
}

fn tagged(tag: &str, value: Value) -> Value {
    Value::Tagged(Box::new(TaggedValue {
        tag: Tag::new(tag),
        value,
    }))
}

/// The document with every same-file `extends` resolved, as Compose resolves it in each
/// file before merging the next one over it: an overlay merges over resolved services.
fn effective(doc: &Value, source: &Source) -> Result<Value> {
    let mut doc = untag(doc).clone();
    let Some(Value::Mapping(services)) = doc.get_mut("services").map(crate::yaml::untag_mut) else {
        return Ok(doc);
    };
    let names: Vec<String> = services
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    for name in names {
        let resolved = resolve(services, &name, 0, source)?;
        services.insert(key(&name), resolved);
    }
    Ok(doc)
}

/// Service `name` with its `extends` chain merged under it.
fn resolve(services: &Mapping, name: &str, depth: usize, source: &Source) -> Result<Value> {
    let svc = services.get(name).cloned().unwrap_or_else(Value::null);
    let Value::Mapping(body) = untag(&svc) else {
        return Ok(svc);
    };
    let Some(base) = crate::compose::extends_base(body) else {
        return Ok(svc);
    };
    if depth >= MAX_EXTENDS_DEPTH || !services.contains_key(base.as_str()) {
        return Err(Error::compose(
            source,
            format!(
                "services.{name}.extends: cannot follow `extends: {base}` to write an overlay; \
                 `netfence rewrite` without --overlay writes the whole fenced file instead"
            ),
        ));
    }
    let mut merged = untag(&resolve(services, &base, depth + 1, source)?).clone();
    let mut body = body.clone();
    body.shift_remove("extends");
    crate::merge::merge_service(&mut merged, Value::Mapping(body));
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        crate::yaml::from_str(s).unwrap()
    }

    fn overlay(before: &str, after: &str) -> String {
        crate::yaml::to_string(&make(&y(before), &y(after), &Source::Stdin).unwrap())
    }

    #[test]
    fn a_removed_key_is_reset_and_a_changed_list_overridden() {
        let out = overlay(
            "services: {web: {image: x, container_name: w, ports: ['8080:80']}}",
            "services: {web: {image: x, ports: ['80']}}",
        );
        assert_eq!(
            out,
            "services:\n  web:\n    ports: !override\n    - '80'\n    container_name: !reset null\n"
        );
    }

    #[test]
    fn scalars_replace_plainly_and_agreeing_input_gives_an_empty_overlay() {
        assert_eq!(
            overlay("name: a\nservices: {}", "name: b\nservices: {}"),
            "name: b\n"
        );
        assert_eq!(
            overlay("services: {w: {image: x}}", "services: {w: {image: x}}"),
            "{}\n"
        );
    }

    #[test]
    fn networks_are_stated_field_by_field() {
        let out = overlay(
            "networks: {back: {name: fixed, driver: bridge}}",
            "networks: {back: {name: nf-1-back, driver: bridge, labels: {a: b}}}",
        );
        assert_eq!(
            out,
            "networks:\n  back:\n    name: nf-1-back\n    labels: !override\n      a: b\n"
        );
    }

    #[test]
    fn services_are_compared_with_their_extends_resolved() {
        // The child already has the base's networks in the user's file; the overlay
        // must replace them with what the rewrite's base and child give together.
        let before = "services:\n  base: {image: x, networks: [back]}\n  job: {extends: base, container_name: j}";
        let after = "services:\n  base: {image: x, networks: [back]}\n  job: {extends: base, networks: {back: {aliases: [j]}}}";
        let out = overlay(before, after);
        assert_eq!(
            out,
            "services:\n  job:\n    networks: !override\n      back:\n        aliases:\n        - j\n    container_name: !reset null\n"
        );
    }

    #[test]
    fn an_extends_it_cannot_follow_is_refused_with_the_way_out() {
        let e = make(
            &y("services: {a: {extends: nope}}"),
            &y("services: {}"),
            &Source::Stdin,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("services.a.extends") && e.contains("without --overlay"),
            "{e}"
        );
    }
}
