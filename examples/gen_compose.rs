//! Prints a generated compose file with N services (default 1000) for `scripts/bench.sh`.
//!
//! `cargo run --release --example gen_compose -- 1000 > compose-1000.yml`

#[path = "../benches/support/gen.rs"]
mod gen;

fn main() {
    let n = std::env::args()
        .nth(1)
        .map(|a| a.parse::<usize>().expect("N is a number of services"))
        .unwrap_or(1000);
    print!("{}", gen::compose(n));
}
