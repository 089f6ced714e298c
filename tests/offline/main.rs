//! The tests that need no Docker engine: the binary driven as a user drives it (`cli`,
//! `audit`, `dev`, `graph`, `platform`), the rewrite rule fixtures, and properties of fencing
//! over generated compose files.

#[path = "../common/binary.rs"]
mod binary;

mod audit;
mod cli;
mod dev;
mod fixtures;
mod graph;
mod platform;
mod properties;
mod tenant;
