//! The tests that need no Docker engine: the binary driven as a user drives it (`cli`,
//! `audit`, `dev`, `graph`, `platform`, `plugin`), the rewrite rule and loading fixtures, and properties of fencing
//! over generated compose files.

#[path = "../common/binary.rs"]
mod binary;

/// The binary with no engine in reach: what these tests see must not depend on what
/// else the engine holds (another test's networks overlap a fixture's subnets).
fn netfence_offline() -> binary::Netfence {
    binary::Netfence::new().env("DOCKER_HOST", "unix:///nonexistent/netfence-offline.sock")
}

mod audit;
mod cli;
mod dev;
mod fixtures;
mod graph;
mod host;
mod load;
mod overlay;
mod platform;
mod plugin;
mod properties;
mod suites;
mod tenant;
