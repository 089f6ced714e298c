//! Stacks netfence brings up itself and takes down: `run` (and the library's `Stack`),
//! `up`/`down` in a checkout, waiting, logs and the run info handed to CMD.

pub mod bring_up;
pub mod caveats;
pub mod dev;
pub mod down;
pub mod log_dir;
pub mod logs;
pub mod port_probe;
pub mod run;
pub mod run_info;
pub mod session;
pub mod signals;
pub mod stable_ports;
pub mod stack;
pub mod tear_down;
pub mod wait;
