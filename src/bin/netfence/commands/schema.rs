//! `netfence schema`: the policy's JSON Schema.

use crate::exit::ExitStatus;

pub fn run() -> anyhow::Result<ExitStatus> {
    super::emit(netfence::policy::SCHEMA)?;
    Ok(ExitStatus::Success)
}
