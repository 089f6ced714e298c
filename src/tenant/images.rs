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
    let services = compose::services_ref(doc);
    let judge = Judge {
        own,
        services: services
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect(),
        projects: project_pattern(policy),
    };
    for (name, svc) in services {
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

/// Every project's Compose name, as the policy's template makes them.
fn project_pattern(policy: &Policy) -> Option<NamePattern> {
    let template = policy
        .naming
        .project
        .as_deref()
        .unwrap_or(crate::naming::PROJECT_TEMPLATE);
    NamePattern::new("project", template, policy.prefix())
}

struct Judge<'a> {
    /// The project's own Compose name: its builds are `<own>-<service>`.
    own: &'a str,
    /// The file's services, lower case: `<own>-<one of them>` is the project's build.
    /// Any other `<own>-…` can be another project's (`shop-billing`'s builds are
    /// `<prefix>-<env>-shop-billing-<service>`).
    services: Vec<String>,
    /// Every project's Compose name, as the policy's template makes them.
    projects: Option<NamePattern>,
}

impl Judge<'_> {
    fn is_own(&self, repo: &str) -> bool {
        let own = self.own;
        if repo.starts_with(&format!("{own}/")) {
            return true;
        }
        [format!("{own}-"), format!("{own}_")].iter().any(|p| {
            repo.strip_prefix(p.as_str()).is_some_and(|service| {
                unambiguous(service) && self.services.iter().any(|s| s == service)
            })
        })
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
                "the build tags its image `{image}`: the engine's image store is every project's, so whatever next runs `{repo}` on this host (the platform's own containers, another project's) runs this build; drop the name (the build is then the project's own: `{}-<service>`, or `{}/<service>` where that could be another project's)",
                self.own, self.own
            ),
            Some(repo.to_owned()),
        ));
    }

    /// A name an image is read by: never another project's build.
    fn read(&self, subject: &str, at: Vec<Part>, image: &str, out: &mut Vec<Escape>) {
        if is_image_id(image) {
            out.push(Escape::new(
                Kind::ImageName,
                subject,
                at,
                format!("`{image}` is an image ID (or the start of one): it names whatever image the engine holds under it, another project's build for one; name the image"),
                Some(image.to_owned()),
            ));
            return;
        }
        let repo = repository(image);
        let another = !self.is_own(repo)
            && self
                .projects
                .as_ref()
                .is_some_and(|p| match repo.split_once('/') {
                    // `<project>/<service>`, the name tenant mode gives an ambiguous build.
                    Some((first, _)) => p.matches(first),
                    // `<project>-<service>`: some split of the name is a project's.
                    None => repo.match_indices('-').any(|(i, _)| p.matches(&repo[..i])),
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
    for (below, value) in super::files::additional_contexts(build.get("additional_contexts")) {
        if let Some(image) = value.strip_prefix("docker-image://") {
            let mut at = path(&["services", name, "build"], None);
            at.extend(below);
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
/// A service name that cannot also be read as the end of another project's name (a
/// build with no `image:` and such a name is named by the plan, `build_name`).
fn unambiguous(service: &str) -> bool {
    !service.contains(['-', '_'])
}

/// Docker Hub's spellings of a name the engine reads as the bare one.
const HUB: &[&str] = &["docker.io/", "index.docker.io/", "registry-1.docker.io/"];

fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let image = match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => &image[..i],
        _ => image,
    };
    let image = HUB
        .iter()
        .find_map(|h| image.strip_prefix(h))
        .unwrap_or(image);
    image.strip_prefix("library/").unwrap_or(image)
}

/// `sha256:…`, or hex digits alone: the engine takes them as an image ID or a prefix of
/// one when no image has that name.
fn is_image_id(image: &str) -> bool {
    let hex = image.strip_prefix("sha256:").unwrap_or(image);
    !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())
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
        assert_eq!(repository("docker.io/library/nginx:1"), "nginx");
        assert_eq!(repository("index.docker.io/library/x"), "x");
        assert_eq!(repository("library/x:latest"), "x");
        assert_eq!(repository("docker.io/acme/x"), "acme/x");
    }

    #[test]
    fn hex_alone_is_an_image_id() {
        assert!(super::is_image_id("684"));
        assert!(super::is_image_id("sha256:6840aa0e36c6"));
        assert!(!super::is_image_id("nginx"));
        assert!(!super::is_image_id("sha256:"));
    }
}
