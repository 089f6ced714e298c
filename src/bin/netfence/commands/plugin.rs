//! `netfence plugin install|uninstall`: the Docker CLI plugin is a link named
//! `docker-netfence` to this very binary, so it never lags behind an upgrade. Uninstall
//! removes only such a link: a file someone else put there is left alone.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::docker_plugin::EXECUTABLE;
use crate::exit::ExitStatus;
use crate::settings::{PluginSettings, SYSTEM_PLUGIN_DIR};

pub fn run(s: PluginSettings) -> anyhow::Result<ExitStatus> {
    let exe = std::env::current_exe()
        .and_then(|e| e.canonicalize())
        .context("finding the netfence executable")?;
    let link = s.dir.join(EXECUTABLE);
    if s.install {
        install(&exe, &s.dir, &link)
    } else {
        uninstall(&link)
    }
}

/// What is at the plugin's path now.
enum Existing {
    Nothing,
    /// A link to a netfence binary (this one or an older install).
    Ours(PathBuf),
    Foreign,
}

fn existing(link: &Path) -> anyhow::Result<Existing> {
    match std::fs::symlink_metadata(link) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Existing::Nothing),
        Err(e) => Err(e).with_context(|| format!("reading {}", link.display())),
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::read_link(link)?;
            Ok(if target.file_name().is_some_and(|n| n == "netfence") {
                Existing::Ours(target)
            } else {
                Existing::Foreign
            })
        }
        Ok(_) => Ok(Existing::Foreign),
    }
}

fn install(exe: &Path, dir: &Path, link: &Path) -> anyhow::Result<ExitStatus> {
    match existing(link)? {
        Existing::Ours(target) if target == exe => {
            eprintln!(
                "netfence: {} already links to {}: `docker netfence` is this netfence",
                link.display(),
                exe.display()
            );
            return Ok(ExitStatus::Success);
        }
        Existing::Foreign => bail!(
            "{} exists and is not netfence's link; remove it first if `docker netfence` should be this netfence",
            link.display()
        ),
        Existing::Ours(_) | Existing::Nothing => {}
    }
    std::fs::create_dir_all(dir).map_err(|e| denied(e, dir))?;
    // A link under a temporary name, then renamed over the old one: docker never sees
    // the plugin half-installed or missing.
    let tmp = dir.join(format!(".{EXECUTABLE}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(exe, &tmp).map_err(|e| denied(e, dir))?;
    if let Err(e) = std::fs::rename(&tmp, link) {
        let _ = std::fs::remove_file(&tmp);
        return Err(denied(e, dir));
    }
    eprintln!(
        "netfence: installed {} → {}; every command now also runs as `docker netfence …`",
        link.display(),
        exe.display()
    );
    Ok(ExitStatus::Success)
}

fn uninstall(link: &Path) -> anyhow::Result<ExitStatus> {
    match existing(link)? {
        Existing::Nothing => {
            eprintln!(
                "netfence: nothing to remove: {} does not exist",
                link.display()
            );
            Ok(ExitStatus::Success)
        }
        Existing::Foreign => bail!(
            "{} is not a link netfence installed; left alone",
            link.display()
        ),
        Existing::Ours(_) => {
            std::fs::remove_file(link).map_err(|e| denied(e, link))?;
            eprintln!("netfence: removed {}", link.display());
            Ok(ExitStatus::Success)
        }
    }
}

/// A write that failed, with the way out when it is a matter of permissions.
fn denied(e: std::io::Error, path: &Path) -> anyhow::Error {
    let hint = if e.kind() == ErrorKind::PermissionDenied && path.starts_with(SYSTEM_PLUGIN_DIR) {
        " (--system needs root: sudo netfence plugin install --system; or --user for this account)"
    } else {
        ""
    };
    anyhow::anyhow!("writing {}: {e}{hint}", path.display())
}
