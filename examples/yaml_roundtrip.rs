//! The baseline of SPEC §6's speed bar: a bare serde YAML parse-and-emit of a compose file
//! (serde_yaml_ng, the crate netfence used before its own tree), with nothing else — no
//! merge keys, no plan.
//! Same I/O shape as `netfence rewrite -f FILE`: reads the file, prints YAML to stdout.
//!
//! `yaml_roundtrip FILE` prints the round trip; `yaml_roundtrip --parsed-size FILE` prints
//! only the heap bytes the parsed document holds.
//! Built by `scripts/bench.sh` (`cargo build --release --example yaml_roundtrip`).

use std::io::Write;

#[path = "../benches/support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed_size = args.iter().any(|a| a == "--parsed-size");
    let path = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .expect("usage: yaml_roundtrip [--parsed-size] FILE");
    let text = std::fs::read_to_string(path).expect("readable file");
    if parsed_size {
        counting_alloc::enable();
    }
    let before = counting_alloc::live();
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("valid YAML");
    if parsed_size {
        println!("{}", counting_alloc::live() - before);
        return;
    }
    let out = serde_yaml_ng::to_string(&value).expect("emittable YAML");
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes()).expect("stdout");
}
