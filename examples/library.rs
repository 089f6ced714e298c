//! netfence as a library, the way a Rust test suite uses it: fence a stack and bring it
//! up, ask one service something on its published port, tear the stack down.
//!
//! `cargo run --example library -- fixtures/e2e/small/compose.yml app 8080`
//!
//! The engine tests run [`greet`] itself (tests/engine/library.rs).

use std::io::Read;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use netfence::engine::{Stack, StackOptions};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, service, port] = args.as_slice() else {
        eprintln!("usage: library COMPOSE_FILE SERVICE PORT");
        return ExitCode::from(2);
    };
    let Ok(port) = port.parse() else {
        eprintln!("PORT is a number: {port}");
        return ExitCode::from(2);
    };
    match greet(file.into(), service, port, None) {
        Ok(answer) => {
            println!("{service} answered: {answer}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Brings up a fenced copy of the stack in `file` (as run `run_id`, else a fresh one),
/// reads what `service` says on its published TCP `port`, and tears the copy down.
pub fn greet(
    file: PathBuf,
    service: &str,
    port: u16,
    run_id: Option<String>,
) -> Result<String, Box<dyn std::error::Error>> {
    let stack = Stack::up(StackOptions {
        files: vec![file],
        run_id,
        timeout: Duration::from_secs(120),
        ..StackOptions::default()
    })?;
    // Published ports are ephemeral in a run: the stack says where each one went.
    let address = stack
        .address(service, port)
        .ok_or_else(|| format!("{service} publishes no port {port}"))?;
    let mut answer = String::new();
    let mut conn = TcpStream::connect(address)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.read_to_string(&mut answer)?;
    // Explicit, to see what tear-down left; dropping the stack would tear it down too.
    stack.down()?;
    Ok(answer.trim().to_owned())
}
