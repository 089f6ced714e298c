//! Speed and memory bars, measured in process (no process start-up, no file I/O):
//!
//! * `rewrite/N`: the library path of `netfence rewrite` (parse + merge keys, policy,
//!   plan, apply, emit) on generated N-service files, side by side with `roundtrip/N`, a
//!   bare serde_yaml_ng parse-and-emit of the same text. Bar at 1,000 services: ≤ 1.5×.
//! * `allocate/10000`: planning 10,000 networks into 10.0.0.0/8 as /24s
//!   (`netfence::subnet_pool::allocate`). Bar: < 100 ms.
//! * Peak heap of one rewrite vs the peak heap of one bare round trip (a counting global
//!   allocator). Bar: ≤ 2×. Beside it, the heap each parsed tree holds (netfence's and
//!   serde_yaml_ng's).
//!
//! `cargo bench --bench rewrite` measures (release profile). Under `cargo test
//! --all-targets` (no `--bench` argument) it only runs every case once on small inputs, so
//! CI checks that the harness works without spending time. Figures: `docs/BENCHMARKS.md`.
//! A plain harness rather than criterion: the figures are side-by-side ratios over a few
//! sizes, which a median of timed runs gives without another dependency tree to build.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use netfence::load::ComposeInput;
use netfence::subnet_pool::{allocate, Pool, Request};
use netfence::{Options, Project, Scope, Source};

#[path = "support/gen.rs"]
mod gen;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static GLOBAL: counting_alloc::Counting = counting_alloc::Counting;

/// `netfence rewrite -f compose.yml --run-id bench` without the process around it.
fn rewrite(text: &str) -> String {
    let source = Source::File("compose.yml".into());
    let value = netfence::load::parse_document(&source, text).expect("generated file parses");
    let input = ComposeInput {
        sources: vec![source],
        value,
        project_dir: "/bench".into(),
        notes: Vec::new(),
        references: Vec::new(),
        host: Default::default(),
    };
    let project = Project::new(
        input,
        None,
        std::path::Path::new("/nonexistent-netfence-bench"),
    )
    .expect("built-in policy");
    let opts = Options {
        scope: Some(Scope::Run("bench".into())),
        environ: BTreeMap::new(),
        ..Options::default()
    };
    let plan = project.plan(&opts).expect("plan");
    netfence::yaml::to_string(&project.rewrite(&plan))
}

/// Where one rewrite spends its time: parse (with merge keys), policy + unfence, plan,
/// apply, emit. Median of `runs` runs per phase.
fn phases(text: &str, runs: usize) -> [Duration; 5] {
    let mut samples: Vec<[Duration; 5]> = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let source = Source::File("compose.yml".into());
        let value = netfence::load::parse_document(&source, text).expect("parses");
        let parse = t.elapsed();
        let t = Instant::now();
        let input = ComposeInput {
            sources: vec![source],
            value,
            project_dir: "/bench".into(),
            notes: Vec::new(),
            references: Vec::new(),
            host: Default::default(),
        };
        let project = Project::new(
            input,
            None,
            std::path::Path::new("/nonexistent-netfence-bench"),
        )
        .expect("built-in policy");
        let new = t.elapsed();
        let t = Instant::now();
        let opts = Options {
            scope: Some(Scope::Run("bench".into())),
            environ: BTreeMap::new(),
            ..Options::default()
        };
        let plan = project.plan(&opts).expect("plan");
        let planned = t.elapsed();
        let t = Instant::now();
        let fenced = project.rewrite(&plan);
        let applied = t.elapsed();
        let t = Instant::now();
        black_box(netfence::yaml::to_string(&fenced));
        let emitted = t.elapsed();
        samples.push([parse, new, planned, applied, emitted]);
    }
    std::array::from_fn(|i| {
        let mut v: Vec<Duration> = samples.iter().map(|s| s[i]).collect();
        v.sort();
        v[v.len() / 2]
    })
}

fn roundtrip(text: &str) -> String {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).expect("YAML");
    serde_yaml_ng::to_string(&v).expect("emit")
}

fn allocate_networks(n: usize) -> usize {
    let requests: Vec<Request> = (0..n)
        .map(|i| Request {
            seed: format!("nf-bench-net-{i}"),
            fixed: None,
        })
        .collect();
    let pool = Pool {
        net: "10.0.0.0/8".parse().expect("CIDR"),
        prefix_len: 24,
    };
    allocate(Some(pool), &requests, &[])
        .expect("10,000 /24s fit a /8")
        .len()
}

/// Median and minimum of `f`'s wall time, over at least `min_runs` runs and about
/// `budget` of time (after one warm-up run).
fn time<T>(budget: Duration, min_runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    black_box(f());
    let mut samples = Vec::new();
    let started = Instant::now();
    while samples.len() < min_runs || (started.elapsed() < budget && samples.len() < 1000) {
        let t = Instant::now();
        black_box(f());
        samples.push(t.elapsed());
    }
    samples.sort();
    (samples[samples.len() / 2], samples[0])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not: then smoke only.
    let measure = std::env::args().any(|a| a == "--bench");
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));

    if !measure {
        for n in [10, 100] {
            let text = gen::compose(n);
            let out = rewrite(&text);
            assert!(
                out.contains("io.netfence.managed"),
                "rewrite fences the file"
            );
            assert!(!roundtrip(&text).is_empty());
        }
        assert_eq!(allocate_networks(10_000), 10_000);
        println!("bench rewrite: smoke run OK (cargo bench --bench rewrite measures)");
        return;
    }

    counting_alloc::enable();
    let budget = Duration::from_secs(3);
    println!(
        "{:<14} {:>8} {:>21} {:>21} {:>15} {:>17} {:>17} {:>6}",
        "case",
        "bytes",
        "rewrite ms med/min",
        "round-trip ms med/min",
        "ratio med/min",
        "tree KB nf/serde",
        "peak KB nf/serde",
        "peak×"
    );
    for n in [10usize, 100, 1_000, 5_000] {
        let name = format!("rewrite/{n}");
        if !wanted(&name) {
            continue;
        }
        let text = gen::compose(n);
        let (rw, rw_min) = time(budget, 5, || rewrite(&text));
        let (rt, rt_min) = time(budget, 5, || roundtrip(&text));
        // The heap each parsed tree holds once parsing is done.
        let tree = |parse: &dyn Fn() -> Box<dyn std::any::Any>| {
            let before = counting_alloc::live();
            let doc = parse();
            let size = counting_alloc::live() - before;
            drop(black_box(doc));
            size
        };
        let ours = tree(&|| Box::new(netfence::yaml::from_str(&text).expect("YAML")));
        let theirs = tree(&|| {
            Box::new(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).expect("YAML"))
        });
        let (_, peak) = counting_alloc::peak_during(|| black_box(rewrite(&text)).len());
        let (_, rt_peak) = counting_alloc::peak_during(|| black_box(roundtrip(&text)).len());
        let kb = |b: usize| b as f64 / 1024.0;
        println!(
            "{:<14} {:>8} {:>21} {:>21} {:>15} {:>17} {:>17} {:>5.2}×",
            name,
            text.len(),
            format!("{:.2} / {:.2}", ms(rw), ms(rw_min)),
            format!("{:.2} / {:.2}", ms(rt), ms(rt_min)),
            format!(
                "{:.2}× / {:.2}×",
                rw.as_secs_f64() / rt.as_secs_f64(),
                rw_min.as_secs_f64() / rt_min.as_secs_f64()
            ),
            format!("{:.0} / {:.0}", kb(ours), kb(theirs)),
            format!("{:.0} / {:.0}", kb(peak), kb(rt_peak)),
            peak as f64 / rt_peak as f64
        );
    }
    for n in [1_000usize, 5_000] {
        let name = format!("phases/{n}");
        if !wanted(&name) {
            continue;
        }
        let text = gen::compose(n);
        let p = phases(&text, 15);
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("YAML");
        let (bare_parse, _) = time(Duration::from_secs(1), 15, || {
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text).expect("YAML")
        });
        let (bare_emit, _) = time(Duration::from_secs(1), 15, || {
            serde_yaml_ng::to_string(&v).expect("emit")
        });
        println!(
            "{name:<16} parse {:.2} ms (bare {:.2}) | policy+unfence {:.2} | plan {:.2} | apply {:.2} | emit {:.2} ms (bare {:.2})",
            ms(p[0]),
            ms(bare_parse),
            ms(p[1]),
            ms(p[2]),
            ms(p[3]),
            ms(p[4]),
            ms(bare_emit)
        );
    }
    if wanted("allocate/10000") {
        let (med, min) = time(budget, 10, || allocate_networks(10_000));
        println!(
            "{:<14} median {:.2} ms, min {:.2} ms (bar: < 100 ms)",
            "allocate/10000",
            ms(med),
            ms(min)
        );
    }
}
