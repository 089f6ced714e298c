//! This host around the engine: its address space and firewall rules, netfence's state
//! directory and locks, and what is on the engine by netfence's labels (`ls`, `gc`).

pub mod address_space;
pub mod claim;
pub mod gc;
pub mod inventory;
pub mod netfilter;
pub mod owner;
pub mod state_dir;
pub mod sweep;
