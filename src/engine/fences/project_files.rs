//! A running project's compose files, as Compose recorded them on its containers
//! (`com.docker.compose.project.config_files`, comma-separated absolute paths, and
//! `com.docker.compose.project.working_dir`): how `reconcile -p P` without `-f` reads
//! the files the project was started from, wherever it is run.

use std::path::{Path, PathBuf};

use crate::engine::client::docker::{ContainerSummary, Engine};
use crate::error::{Error, Result};
use crate::labels::compose;

/// The files a project was started from, and its project directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFiles {
    pub files: Vec<PathBuf>,
    pub working_dir: Option<PathBuf>,
}

/// Asks the engine for the project's containers (stopped ones too) and reads the files
/// from their labels.
pub async fn of_project(engine: &Engine, project: &str) -> Result<ProjectFiles> {
    let containers = engine.project_containers(project, true).await?;
    select(project, &containers, &|p| p.is_file())
}

/// The newest container's labels; every failure says what was looked for. `exists`
/// tells whether a recorded file is still there.
pub fn select(
    project: &str,
    containers: &[ContainerSummary],
    exists: &dyn Fn(&Path) -> bool,
) -> Result<ProjectFiles> {
    let give = "give the files with -f (or COMPOSE_FILE)";
    if containers.is_empty() {
        return Err(Error::Usage(format!(
            "no -f given, and no container of Compose project `{project}` is on the engine (looked for label {}={project}) to read the project's files from: {give}",
            compose::PROJECT
        )));
    }
    let newest = containers
        .iter()
        .filter(|c| {
            c.labels
                .get(compose::CONFIG_FILES)
                .is_some_and(|f| !f.is_empty())
        })
        .max_by_key(|c| c.created.unwrap_or_default());
    let Some(c) = newest else {
        return Err(Error::Usage(format!(
            "no -f given, and none of the {} container(s) of project `{project}` carries the label {} (started by something other than Docker Compose v2?): {give}",
            containers.len(),
            compose::CONFIG_FILES
        )));
    };
    let listed = &c.labels[compose::CONFIG_FILES];
    let files: Vec<PathBuf> = listed.split(',').map(PathBuf::from).collect();
    if let Some(f) = files.iter().find(|f| !f.is_absolute()) {
        let why = if f == Path::new("-") {
            "from standard input, which cannot be read back".to_owned()
        } else {
            format!(
                "from `{}`, a path relative to nothing netfence knows",
                f.display()
            )
        };
        return Err(Error::Usage(format!(
            "project `{project}` was started {why} (label {} of container {}): {give}",
            compose::CONFIG_FILES,
            c.name
        )));
    }
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !exists(f))
        .map(|f| f.display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "project `{project}` was started from {listed}, and {} is not on this machine any more (label {} of container {}): {give}",
            missing.join(", "),
            compose::CONFIG_FILES,
            c.name
        )));
    }
    Ok(ProjectFiles {
        files,
        working_dir: c
            .labels
            .get(compose::WORKING_DIR)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(name: &str, created: i64, labels: &[(&str, &str)]) -> ContainerSummary {
        ContainerSummary {
            name: name.into(),
            created: Some(created),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..ContainerSummary::default()
        }
    }

    fn all_exist(_: &Path) -> bool {
        true
    }

    #[test]
    fn the_newest_containers_labels_name_the_files() {
        let old = container("old", 1, &[(compose::CONFIG_FILES, "/srv/old/compose.yml")]);
        let new = container(
            "new",
            2,
            &[
                (
                    compose::CONFIG_FILES,
                    "/srv/app/compose.yml,/srv/app/prod.yml",
                ),
                (compose::WORKING_DIR, "/srv/app"),
            ],
        );
        let found = select("app", &[old, new], &all_exist).unwrap();
        assert_eq!(
            found.files,
            [
                PathBuf::from("/srv/app/compose.yml"),
                PathBuf::from("/srv/app/prod.yml")
            ]
        );
        assert_eq!(found.working_dir, Some(PathBuf::from("/srv/app")));
    }

    #[test]
    fn nothing_to_read_is_bad_input_saying_what_was_looked_for() {
        let e = select("app", &[], &all_exist).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Input);
        assert!(
            e.to_string().contains("com.docker.compose.project=app"),
            "{e}"
        );

        let unlabelled = container("c", 1, &[]);
        let e = select("app", &[unlabelled], &all_exist).unwrap_err();
        assert!(e.to_string().contains(compose::CONFIG_FILES), "{e}");

        let stdin = container("c", 1, &[(compose::CONFIG_FILES, "-")]);
        let e = select("app", &[stdin], &all_exist).unwrap_err();
        assert!(e.to_string().contains("standard input"), "{e}");

        let gone = container("c", 1, &[(compose::CONFIG_FILES, "/nowhere/compose.yml")]);
        let e = select("app", &[gone], &|_| false).unwrap_err();
        assert!(e.to_string().contains("/nowhere/compose.yml"), "{e}");
    }
}
