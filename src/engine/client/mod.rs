//! The engine and Compose as programs netfence talks to: the Docker API facade, the
//! context it connects through, networks by API, and Compose invoked as a CLI.

pub mod compose_cli;
pub mod context;
mod dial_stdio;
pub mod docker;
pub mod network;
pub mod second_opinion;
