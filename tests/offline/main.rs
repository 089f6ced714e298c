//! The tests that need no Docker engine: the binary driven as a user drives it (`cli`,
//! `audit`, `graph`, `platform`), the rewrite rule and loading fixtures, and properties of fencing
//! over generated compose files.

#[path = "../common/binary.rs"]
mod binary;

mod audit;
mod cli;
mod fixtures;
mod graph;
mod load;
mod platform;
mod properties;
mod tenant;
