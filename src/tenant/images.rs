//! Images: the engine keeps one image store for every project on the host. A build
//! that tags its result with a name outside its project (`nginx:1.27`, another project's
//! `nf-prod-billing-web`) replaces that image for whoever runs it next, the platform's
//! own containers included; an image, an image volume or a build context that names
//! another project's built image reads its files (and the secrets baked into them).

use super::templates::{glob_matches, NamePattern};
use super::{path, Context, Escape, Kind, Part};
use crate::compose;
use crate::policy::Policy;
use crate::yaml::{scalar_string, untag, Mapping, Value};

pub(super) fn check(doc: &Value, policy: &Policy, ctx: &Context<'_>, out: &mut Vec<Escape>) {
    let Some(own) = ctx.project_name else {
        return;
    };
    let template = policy
        .naming
        .project
        .as_deref()
        .unwrap_or(crate::naming::PROJECT_TEMPLATE);
    let judge = Judge {
        own,
        projects: NamePattern::new("project", template, policy.prefix()),
    };
    for (name, svc) in compose::services_ref(doc) {
        let subject = format!("service {name}");
        let build = svc.get("build").map(untag);
        if let Some(image) = svc.get("image").and_then(scalar_string) {
            let at = path(&["services", &name, "image"], None);
            match build {
                Some(_) => judge.tagged(&subject, at, &image, out),
                None => judge.read(&subject, at, &image, out),
            }
        }
        if let Some(build) = build.and_then(Value::as_mapping) {
            built(&judge, &subject, &name, build, out);
        }
        mounted(&judge, &subject, &name, svc, out);
    }
}

struct Judge<'a> {
    /// The project's own Compose name: its builds are `<own>-<service>`.
    own: &'a str,
    /// Every project's Compose name, as the policy's template makes them.
    projects: Option<NamePattern>,
}

impl Judge<'_> {
    fn is_own(&self, repo: &str) -> bool {
        let own = self.own;
        repo == own
            || [format!("{own}-"), format!("{own}_"), format!("{own}/")]
                .iter()
                .any(|p| repo.starts_with(p.as_str()))
    }

    /// A name a build gives its image: only the project's own.
    fn tagged(&self, subject: &str, at: Vec<Part>, image: &str, out: &mut Vec<Escape>) {
        let repo = repository(image);
        if self.is_own(repo) {
            return;
        }
        out.push(Escape::new(
            Kind::ImageName,
            subject,
            at,
            format!(
                "the build tags its image `{image}`: the engine's image store is every project's, so whatever next runs `{repo}` on this host (the platform's own containers, another project's) runs this build; drop the name (Compose calls the build `{}-<service>`) or begin it with `{}-`",
                self.own, self.own
            ),
            Some(repo.to_owned()),
        ));
    }

    /// A name an image is read by: never another project's build.
    fn read(&self, subject: &str, at: Vec<Part>, image: &str, out: &mut Vec<Escape>) {
        let repo = repository(image);
        let another = !repo.contains('/')
            && !self.is_own(repo)
            && self.projects.as_ref().is_some_and(|p| {
                // `<project>-<service>`: some split of the name is a project's.
                repo.match_indices('-').any(|(i, _)| p.matches(&repo[..i]))
            });
        if !another {
            return;
        }
        out.push(Escape::new(
            Kind::ImageName,
            subject,
            at,
            format!("`{image}` is the name of another project's build: its files (and the secrets baked into them) are that project's"),
            Some(repo.to_owned()),
        ));
    }
}

/// `build.tags`, and build contexts that are images (`docker-image://…`).
fn built(judge: &Judge<'_>, subject: &str, name: &str, build: &Mapping, out: &mut Vec<Escape>) {
    if let Some(Value::Sequence(tags)) = build.get("tags").map(untag) {
        for (i, tag) in tags.iter().enumerate() {
            if let Some(tag) = scalar_string(tag) {
                let at = path(&["services", name, "build", "tags"], Some(i));
                judge.tagged(subject, at, &tag, out);
            }
        }
    }
    let contexts = build.get("additional_contexts").map(untag);
    let entries: Vec<(String, String)> = match contexts {
        Some(Value::Mapping(m)) => m
            .iter()
            .filter_map(|(k, v)| Some((scalar_string(k)?, scalar_string(v)?)))
            .collect(),
        Some(Value::Sequence(items)) => items
            .iter()
            .filter_map(scalar_string)
            .filter_map(|s| s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect(),
        _ => Vec::new(),
    };
    for (key, value) in entries {
        if let Some(image) = value.strip_prefix("docker-image://") {
            let at = path(
                &["services", name, "build", "additional_contexts", &key],
                None,
            );
            judge.read(subject, at, image, out);
        }
    }
}

/// `volumes: [{type: image, source: …}]`.
fn mounted(judge: &Judge<'_>, subject: &str, name: &str, svc: &Mapping, out: &mut Vec<Escape>) {
    let Some(Value::Sequence(mounts)) = svc.get("volumes").map(untag) else {
        return;
    };
    for (i, m) in mounts.iter().enumerate() {
        let m = untag(m);
        let is_image = m.get("type").and_then(scalar_string).as_deref() == Some("image");
        if let (true, Some(source)) = (is_image, m.get("source").and_then(scalar_string)) {
            let mut at = path(&["services", name, "volumes"], Some(i));
            at.push(Part::Key("source".into()));
            judge.read(subject, at, &source, out);
        }
    }
}

/// `registry/name:tag@digest` without its tag and digest.
fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    }
}

/// Whether `tenant.allow.image_names` names this repository.
pub(super) fn granted(allowed: &[String], repo: &str) -> bool {
    allowed.iter().any(|g| glob_matches(g, repo))
}

#[cfg(test)]
mod tests {
    use super::repository;

    #[test]
    fn a_repository_is_the_name_without_tag_or_digest() {
        assert_eq!(repository("nginx:1.27"), "nginx");
        assert_eq!(repository("registry:5000/app"), "registry:5000/app");
        assert_eq!(
            repository("registry:5000/app:v1@sha256:ab"),
            "registry:5000/app"
        );
        assert_eq!(repository("nf-prod-shop-web"), "nf-prod-shop-web");
    }
}
