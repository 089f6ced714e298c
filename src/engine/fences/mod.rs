//! Fencing what others deploy: an environment's shared networks (`ensure`), projects
//! fenced after they were deployed (`reconcile`, `--watch`).

pub mod ensure;
pub mod project_files;
pub mod reconcile;
pub mod watch;
