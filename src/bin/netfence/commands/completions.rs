//! `netfence completions SHELL`: a completion script generated from the same clap
//! definitions the parser uses, so it never lags behind a new flag.

use clap::CommandFactory;
use clap_complete::Shell as Target;

use crate::args::{Cli, Shell};
use crate::exit::ExitStatus;

pub fn run(shell: Shell) -> anyhow::Result<ExitStatus> {
    let target = match shell {
        Shell::Bash => Target::Bash,
        Shell::Zsh => Target::Zsh,
        Shell::Fish => Target::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(target, &mut Cli::command(), "netfence", &mut script);
    super::emit_bytes(&script)?;
    Ok(ExitStatus::Success)
}
