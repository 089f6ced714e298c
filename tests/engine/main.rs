//! The tests that need a Docker engine and Compose v2: `run`, `down`, `gc` and `verify`
//! (isolation, published ports, signals, scale), `up`/`port`/`down` for checkouts,
//! `rewrite` and `audit` against the engine's subnets, `docker netfence` and Docker
//! contexts, and platform mode (`ensure`,
//! environments, `reconcile`, Swarm).
//!
//! Without an engine they print a loud SKIPPED line and pass; `NETFENCE_E2E=require` (CI)
//! makes that a failure. scripts/provision-engine.sh sets one up.

#[path = "../common/binary.rs"]
mod binary;
mod support;

mod audit;
mod breaches;
mod dev;
mod ensure;
mod environments;
mod faults;
mod host;
mod library;
mod names;
mod plugin;
mod reconcile;
mod rewrite;
mod run;
mod run_safety;
mod scale;
mod second_opinion;
mod suites;
mod swarm;
mod verify;
mod watch;
