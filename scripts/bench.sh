#!/usr/bin/env bash
# Speed and memory bars, end to end, in one run:
#   1. generates compose files of 10 / 100 / 1,000 / 5,000 services (examples/gen_compose.rs:
#      container_name, ${VAR:-n} ports, networks, labels, volumes; ~250 KB at 1,000);
#   2. builds release binaries;
#   3. times side by side, as processes: `netfence rewrite -f FILE --run-id bench`, a bare
#      serde_yaml_ng parse-and-emit of the same file (examples/yaml_roundtrip.rs) and
#      `docker compose -f FILE config` (hyperfine when it is there or installable, else a
#      loop of timed runs);
#   4. measures peak memory (max RSS, /usr/bin/time) of netfence against the round trip's
#      (the bar: within 2x), also as growth over each binary's run on an empty file;
#   5. with CALLGRIND=1, counts instructions (valgrind --tool=callgrind), which unlike
#      times do not depend on the machine's load;
#   6. runs the in-process harness (`cargo bench --bench rewrite`), which also plans
#      10,000 networks into a pool and compares peak heaps.
# Prints a Markdown report (also written to $BENCH_DIR/report.md) for docs/BENCHMARKS.md.
#
#   scripts/bench.sh                  # everything
#   SIZES="1000" scripts/bench.sh     # some sizes only
#   NO_HARNESS=1 scripts/bench.sh     # skip step 6
#   CALLGRIND=1 scripts/bench.sh      # add step 5
# Speed is measured here, never asserted in tests.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"10 100 1000 5000"}
BENCH_DIR=${BENCH_DIR:-target/bench}
RUNS=${RUNS:-20}
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)

say() { echo "bench: $*" >&2; }

# Tools: hyperfine and GNU time from Debian when missing and we may install.
apt_install() {
  [ "$(id -u)" = 0 ] || return 1
  apt-get install -y -qq "$@" >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "$@" >/dev/null 2>&1; }
}
command -v hyperfine >/dev/null 2>&1 || apt_install hyperfine || say "hyperfine unavailable: timing with a loop"
[ -x /usr/bin/time ] || apt_install time || { say "GNU time (/usr/bin/time) is needed for max RSS"; exit 2; }

# Compose v2: the `docker compose` plugin, else a standalone `docker-compose` v2.
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif docker-compose version --short 2>/dev/null | grep -q '^v\?2'; then
  COMPOSE=(docker-compose)
else
  COMPOSE=()
  say "Docker Compose v2 not found: its column stays empty (scripts/provision-engine.sh installs it)"
fi

say "building release binaries"
cargo build --release --quiet --bin netfence --example yaml_roundtrip --example gen_compose
NF=$PWD/target/release/netfence
RT=$PWD/target/release/examples/yaml_roundtrip
GEN=$PWD/target/release/examples/gen_compose

# Median wall time in ms of a command run $RUNS times (the fallback without hyperfine).
loop_median_ms() {
  local i t0 t1 samples=()
  "$@" >/dev/null 2>&1
  for ((i = 0; i < RUNS; i++)); do
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    samples+=($(((t1 - t0) / 1000)))
  done
  printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'
}

# Median wall time in ms: hyperfine's median when available.
median_ms() {
  local name=$1
  shift
  if command -v hyperfine >/dev/null 2>&1; then
    hyperfine -N --warmup 3 --runs "$RUNS" --style none \
      --export-json "$BENCH_DIR/$name.json" -- "$(printf '%q ' "$@")" >/dev/null 2>&1
    python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' \
      "$BENCH_DIR/$name.json"
  else
    loop_median_ms "$@"
  fi
}

# Max RSS in KiB of one run.
max_rss_kb() {
  /usr/bin/time -f '%M' -o "$BENCH_DIR/rss.txt" "$@" >/dev/null 2>&1
  tail -n 1 "$BENCH_DIR/rss.txt"
}

# The binary's own footprint: netfence on an empty compose file.
printf 'services: {}\n' >"$BENCH_DIR/empty.yml"
NF_BASE_KB=$(max_rss_kb "$NF" rewrite -f "$BENCH_DIR/empty.yml" --run-id bench)
RT_BASE_KB=$(max_rss_kb "$RT" "$BENCH_DIR/empty.yml")

report=$BENCH_DIR/report.md
{
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo);" \
    "$(uname -sr); $("$NF" --version);" \
    "Compose $([ ${#COMPOSE[@]} -gt 0 ] && "${COMPOSE[@]}" version --short 2>/dev/null || echo none);" \
    "timing: $(command -v hyperfine >/dev/null 2>&1 && hyperfine --version || echo "loop of $RUNS"), median of $RUNS runs after 3 warm-ups."
  echo
  echo "| services | file KB | netfence ms | round-trip ms | compose ms | netfence ÷ round-trip | compose ÷ netfence | netfence max RSS MB (Δ over empty) | round-trip max RSS MB (Δ) | RSS netfence ÷ round-trip (Δ) |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$report"

for n in $SIZES; do
  f=$BENCH_DIR/compose-$n.yml
  "$GEN" "$n" >"$f"
  bytes=$(wc -c <"$f")
  "$NF" rewrite -f "$f" --run-id bench >/dev/null
  say "$n services: $bytes bytes, timing"
  t_nf=$(median_ms "netfence-$n" "$NF" rewrite -f "$f" --run-id bench)
  t_rt=$(median_ms "roundtrip-$n" "$RT" "$f")
  t_dc=""
  if [ ${#COMPOSE[@]} -gt 0 ]; then
    t_dc=$(median_ms "compose-$n" "${COMPOSE[@]}" -f "$f" --project-directory "$BENCH_DIR" config)
  fi
  rss_nf=$(max_rss_kb "$NF" rewrite -f "$f" --run-id bench)
  rss_rt=$(max_rss_kb "$RT" "$f")
  python3 - "$n" "$bytes" "$t_nf" "$t_rt" "${t_dc:-0}" "$rss_nf" "$NF_BASE_KB" "$rss_rt" "$RT_BASE_KB" >>"$report" <<'EOF'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
t_nf, t_rt, t_dc = (float(x) for x in sys.argv[3:6])
rss_nf, base_nf, rss_rt, base_rt = (int(x) for x in sys.argv[6:10])
d_nf, d_rt = (rss_nf - base_nf) * 1024, (rss_rt - base_rt) * 1024
dc = f"{t_dc:.1f}" if t_dc else "–"
dc_ratio = f"{t_dc / t_nf:.1f}×" if t_dc else "–"
print(f"| {n:,} | {size/1024:.0f} | {t_nf:.2f} | {t_rt:.2f} | {dc} | "
      f"{t_nf / t_rt:.2f}× | {dc_ratio} | {rss_nf/1024:.1f} ({d_nf/1048576:+.1f}) | "
      f"{rss_rt/1024:.1f} ({d_rt/1048576:+.1f}) | {rss_nf / rss_rt:.2f}× ({d_nf / d_rt:.2f}×) |")
EOF
done

if [ "${CALLGRIND:-0}" = 1 ] && command -v valgrind >/dev/null 2>&1; then
  say "instruction counts (callgrind)"
  {
    echo
    echo "Instructions (valgrind --tool=callgrind, whole process):"
    echo
    echo "| services | netfence Ir | round-trip Ir | ratio |"
    echo "|---:|---:|---:|---:|"
  } >>"$report"
  ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | awk '/Collected/ {print $NF}'; }
  for n in $SIZES; do
    f=$BENCH_DIR/compose-$n.yml
    python3 -c 'import sys; n, a, b = (int(x) for x in sys.argv[1:4]); print(f"| {n:,} | {a/1e6:.1f} M | {b/1e6:.1f} M | {a/b:.2f}× |")' \
      "$n" "$(ir "$NF" rewrite -f "$f" --run-id bench)" "$(ir "$RT" "$f")" >>"$report"
  done
fi

if [ "${NO_HARNESS:-0}" != 1 ]; then
  say "in-process harness (cargo bench --bench rewrite)"
  {
    echo
    echo "In process (\`cargo bench --bench rewrite\`: library calls, no process start-up or file I/O;"
    echo "tree = the heap each parsed tree holds, peak = the heap high-water mark of one call):"
    echo
    echo '```'
    cargo bench --quiet --bench rewrite 2>/dev/null
    echo '```'
  } >>"$report"
fi

cat "$report"
