//! `netfence tenant keys`: tenant mode's table of Compose keys.

use netfence::tenant::{render_key_table, KeyFormat};

use crate::args::{KeysFormat, TenantCommand};
use crate::exit::ExitStatus;

pub fn run(command: TenantCommand) -> anyhow::Result<ExitStatus> {
    match command {
        TenantCommand::Keys(a) => {
            let format = match a.format {
                KeysFormat::Text => KeyFormat::Text,
                KeysFormat::Json => KeyFormat::Json,
                KeysFormat::Markdown => KeyFormat::Markdown,
            };
            super::emit(&render_key_table(format))?;
        }
    }
    Ok(ExitStatus::Success)
}
