//! `netfence port SERVICE PORT`: where a published port of this checkout's stack is, as
//! `docker compose port` says it (`127.0.0.1:21874`).

use crate::exit::ExitStatus;
use crate::settings::PortSettings;

pub fn run(s: PortSettings) -> anyhow::Result<ExitStatus> {
    let address =
        netfence::engine::stacks::dev::port(&s.checkout, &s.service, s.port, s.protocol, s.index)?;
    super::emit(&address)?;
    Ok(ExitStatus::Success)
}
