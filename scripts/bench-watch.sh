#!/usr/bin/env bash
# bench-watch.sh — how long a container runs unfenced under `netfence reconcile --watch`.
#
# A platform deploys a project from the unfenced file (every service on its flat network,
# as Coolify or Dokploy do) while `reconcile --watch` follows the engine. The window is
# the time between a container's start and its last fencing step (environment, proxy and
# shared networks joined); negative when it was fenced before it started. Two paths:
#
#   create  `docker compose up -d` of a new project: the watcher sees each container's
#           `create` and connects it before Compose starts it.
#   start   the project's containers were created before the watcher ran (`docker
#           compose create`), so only their `start` is seen: they are fenced just after.
#   one-shot  for comparison, no watcher: `docker compose up -d`, then at once a one-shot
#           `netfence reconcile` — what a platform that fences after deploying gets at
#           best (a polling one adds its period).
#
# The watcher's own figure (`fenced` records: last step minus the engine's start event)
# is cross-checked against the container's State.StartedAt.
#
# Each round deploys one project per path and removes it once fenced; the start-path
# projects are all created first, and each holds one of Docker's ~30 default pool
# networks until its round: keep ROUNDS under about 25.
#
# Usage: scripts/bench-watch.sh [ROUNDS]   (default 10 projects per path; needs Docker +
# Compose v2, jq, and the netfence-busybox image: scripts/provision-engine.sh). Prints a
# Markdown report on stdout, progress on stderr. Builds the release binary first, unless
# NETFENCE_BIN names one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-10}"

log() { printf 'bench-watch: %s\n' "$*" >&2; }

if [ -z "${NETFENCE_BIN:-}" ]; then
    cargo build --release --locked --bin netfence >&2
    NETFENCE_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/netfence"
fi
NF="$NETFENCE_BIN"
tag="bw$$"
work="$(mktemp -d)"
for f in compose.yml policy.yml; do
    sed "s/@ID@/$tag/g" "fixtures/platform/reconcile/$f" >"$work/$f"
done
env="$tag"
projects=()
for i in $(seq 1 "$ROUNDS"); do projects+=("${tag}c$i" "${tag}s$i"); done

watcher=""
cleanup() {
    [ -n "$watcher" ] && kill "$watcher" 2>/dev/null && wait "$watcher" 2>/dev/null || true
    for p in "${projects[@]}"; do
        docker compose -f "$work/compose.yml" -p "$p" down -t 1 >/dev/null 2>&1 || true
    done
    for n in "nfp-$tag-flat" "nfp-$tag-proxy" "nfp-$tag-infra" "nf-env-$env"; do
        docker network rm "$n" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

docker network create "nfp-$tag-flat" >/dev/null
log "creating the start-path projects before the watcher runs"
for i in $(seq 1 "$ROUNDS"); do
    docker compose -f "$work/compose.yml" -p "${tag}s$i" create >/dev/null 2>&1
done
# The watcher replays the last second of events when it subscribes: these creates are older.
sleep 2

args=()
for p in "${projects[@]}"; do args+=(-p "$p"); done
(cd "$work" && exec "$NF" reconcile --watch "${args[@]}" --env "$env" --policy policy.yml -f compose.yml) \
    >"$work/records.jsonl" 2>"$work/watch.err" &
watcher=$!
for _ in $(seq 1 300); do
    grep -q '"event":"watching"' "$work/records.jsonl" 2>/dev/null && break
    sleep 0.1
done
grep -q '"event":"watching"' "$work/records.jsonl" || { cat "$work/watch.err" >&2; exit 1; }

compose() {   # compose PROJECT ARGS… — quiet unless it fails
    docker compose -f "$work/compose.yml" -p "$@" >"$work/compose.log" 2>&1 || {
        cat "$work/compose.log" >&2; exit 1; }
}
fenced_of() {   # how many of PROJECT's containers have a `fenced` record
    jq -s --arg p "$1" '[.[] | select(.event == "fenced" and .project == $p)] | length' "$work/records.jsonl"
}
stamp() {   # writes each fenced container of PROJECT with its State.StartedAt, then removes it
    for c in $(jq -r --arg p "$1" 'select(.event == "fenced" and .project == $p) | .container' "$work/records.jsonl"); do
        printf '%s %s\n' "$c" "$(docker inspect -f '{{.State.StartedAt}}' "$c")" >>"$work/started"
    done
    compose "$1" down -t 1
}
: >"$work/started"; : >"$work/oneshot"
for i in $(seq 1 "$ROUNDS"); do
    log "round $i: up -d ${tag}c$i, then start ${tag}s$i"
    compose "${tag}c$i" up -d
    compose "${tag}s$i" start
    for p in "${tag}c$i" "${tag}s$i"; do
        for _ in $(seq 1 300); do [ "$(fenced_of "$p")" -ge 2 ] && break; sleep 0.1; done
        # Each project's own network takes one of the daemon's ~30 pool networks: freed now.
        stamp "$p"
    done
    # The same deploy fenced afterwards by a one-shot reconcile (not a project the watcher follows).
    o="${tag}o$i"
    projects+=("$o")
    compose "$o" up -d
    (cd "$work" && "$NF" reconcile -p "$o" --env "$env" --policy policy.yml -f compose.yml >/dev/null 2>&1)
    done_at="$(date +%s.%N)"
    for c in "$o-web-1" "$o-db-1"; do
        started="$(docker inspect -f '{{.State.StartedAt}}' "$c")"
        printf 'one-shot %s - %.1f\n' "$c" "$(echo "($done_at - $(date -d "$started" +%s.%N)) * 1000" | bc -l)" >>"$work/oneshot"
    done
    compose "$o" down -t 1
done
kill "$watcher"; wait "$watcher" 2>/dev/null || true; watcher=""

# One line per fenced container: path, container, watcher's window, window vs StartedAt.
epoch() { date -d "$1" +%s.%N; }
: >"$work/windows"
while IFS=$'\t' read -r project container window; do
    path=start; case "$project" in "${tag}c"*) path=create ;; esac
    last="$(jq -r --arg c "$container" 'select(.event == "step" and .container == $c) | .at' "$work/records.jsonl" | sort | tail -n1)"
    started="$(awk -v c="$container" '$1 == c {print $2; exit}' "$work/started")"
    vs_started="$(echo "($(epoch "$last") - $(epoch "$started")) * 1000" | bc -l)"
    printf '%s %s %s %.1f\n' "$path" "$container" "$window" "$vs_started" >>"$work/windows"
done < <(jq -r 'select(.event == "fenced") | [.project, .container, (.window_ms // "null")] | @tsv' "$work/records.jsonl")

stats() {   # stats PATH COLUMN -> "min / median / max"
    awk -v p="$1" -v c="$2" '$1 == p {print $c}' "$work/windows" | sort -g |
        awk '{a[NR]=$1} END {if (!NR) {print "-"; exit}; m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.1f / %.1f / %.1f (n=%d)", a[1], m, a[NR], NR}'
}

echo "### $(date -u +%F) — $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), Docker $(docker version --format '{{.Server.Version}}'), Compose $(docker compose version --short)"
echo
echo "Command: \`scripts/bench-watch.sh $ROUNDS\` (\`$(basename "$NF")\` at $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo
cat "$work/oneshot" >>"$work/windows"
before() { awk -v p="$1" '$1 == p {n++; if ($4 <= 0) b++} END {printf "%d of %d", b, n}' "$work/windows"; }
echo "| path | window, ms: min / median / max (watcher: start event → last step) | the same against State.StartedAt | fenced before start |"
echo "|---|---|---|---|"
echo "| create (up -d; connected before start) | $(stats create 3) | $(stats create 4) | $(before create) |"
echo "| start (create not seen; fenced after start) | $(stats start 3) | $(stats start 4) | $(before start) |"
echo "| one-shot reconcile right after up -d (no watcher) | - | $(stats one-shot 4) | $(before one-shot) |"
echo
echo "Negative: fenced before the container started. Each project: the public \`web\` (proxy +"
echo "environment networks) and the private \`db\` (environment + shared), two steps each."
