#!/usr/bin/env bash
# bench-run.sh — what `netfence run` costs on a live engine.
#
#   1. `netfence run -f STACK -- true` versus the same work by hand: the file fenced once
#      with `netfence rewrite`, then `docker compose up -d` + `docker compose down -v`.
#      Interleaved pairs; the ratio of medians (target <= 1.05).
#   2. 10 `netfence run`s in parallel versus 10 in sequence (wall time).
#   3. `netfence gc --older-than 10y` of 200 leftover managed networks of dead runs (labelled
#      as created in 2000, so that nobody else's objects on a shared engine qualify), and
#      for scale the engine's own time to remove 200 networks with `docker network rm`.
#
# Usage: scripts/bench-run.sh [PAIRS]   (default 5 pairs; needs Docker + Compose v2 and
# the netfence-busybox image: scripts/provision-engine.sh). Prints a Markdown report on
# stdout; progress on stderr. Builds the release binary first.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS="${1:-5}"
STACK=fixtures/e2e/bench/compose.yml

log() { printf 'bench-run: %s\n' "$*" >&2; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

cargo build --release --locked --bin netfence >&2
NF="${CARGO_TARGET_DIR:-$PWD/target}/release/netfence"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$STACK" "$work/compose.yml"
tag="b$$"

# ---------------------------------------------------------------- 1. run vs by hand
"$NF" rewrite -f "$work/compose.yml" --run-id "${tag}hand" >"$work/fenced.yml"
hand_project="$(awk '/^name:/ {print $2; exit}' "$work/fenced.yml")"
# One warm-up of each, not measured (page cache, first-network iptables setup).
docker compose -f "$work/fenced.yml" -p "$hand_project" up -d >/dev/null 2>&1
docker compose -f "$work/fenced.yml" -p "$hand_project" down -v >/dev/null 2>&1
"$NF" run -f "$work/compose.yml" --run-id "${tag}w" -- true
: >"$work/hand"; : >"$work/nf"
for i in $(seq 1 "$PAIRS"); do
    t0=$(now)
    docker compose -f "$work/fenced.yml" -p "$hand_project" up -d >/dev/null 2>&1
    docker compose -f "$work/fenced.yml" -p "$hand_project" down -v >/dev/null 2>&1
    t1=$(now)
    "$NF" run -f "$work/compose.yml" --run-id "${tag}r$i" -- true
    t2=$(now)
    echo "$t1 - $t0" | bc -l >>"$work/hand"
    echo "$t2 - $t1" | bc -l >>"$work/nf"
    log "pair $i: by hand $(tail -n1 "$work/hand")s, netfence run $(tail -n1 "$work/nf")s"
done
hand_med=$(median <"$work/hand")
nf_med=$(median <"$work/nf")
ratio=$(echo "$nf_med / $hand_med" | bc -l)

# ---------------------------------------------------------------- 2. parallel vs sequence
t0=$(now)
for i in $(seq 0 9); do "$NF" run -f "$work/compose.yml" --run-id "${tag}s$i" -- true; done
t1=$(now)
pids=()
for i in $(seq 0 9); do "$NF" run -f "$work/compose.yml" --run-id "${tag}p$i" -- true & pids+=($!); done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
t2=$(now)
seq_s=$(echo "$t1 - $t0" | bc -l)
par_s=$(echo "$t2 - $t1" | bc -l)
left=$(docker ps -a --format '{{.Label "io.netfence.scope"}}' | grep -c "^run:${tag}" || true)

# ---------------------------------------------------------------- 3. gc of 200 networks
host="$(cat /proc/sys/kernel/hostname)"
log "creating 200 leftover networks of dead runs"
t0=$(now)
seq 0 199 | xargs -P 4 -I{} sh -c '
    docker network create --subnet "10.214.$(({} % 200)).0/24" \
      --label io.netfence.managed=true --label "io.netfence.scope=run:'"$tag"'gc{}" \
      --label "io.netfence.owner='"$host"'/4194999/1" \
      --label io.netfence.created=2000-01-01T00:00:00Z "nf-'"$tag"'gc{}-default" >/dev/null' \
    || log "some creations failed (see above)"
t1=$(now)
created=$(docker network ls -q --filter "label=io.netfence.owner=$host/4194999/1" | wc -l)
# --older-than 10y: only these (labelled as created in 2000) qualify, never the runs of
# anyone else using this engine meanwhile.
gc_out="$("$NF" gc --older-than 10y 2>&1 >/dev/null || true)"
t2=$(now)
after=$(docker network ls -q --filter "label=io.netfence.owner=$host/4194999/1" | wc -l)
create_s=$(echo "$t1 - $t0" | bc -l)
gc_s=$(echo "$t2 - $t1" | bc -l)
# The same removal by hand, for scale: the engine's own cost of removing 200 networks.
seq 0 199 | xargs -P 4 -I{} docker network create --subnet "10.214.{}.0/24" "nf-${tag}hand{}" >/dev/null \
    || log "some creations failed"
t0=$(now)
docker network ls -q --filter "name=nf-${tag}hand" | xargs -P 8 -n 25 docker network rm >/dev/null || true
t1=$(now)
hand_rm_s=$(echo "$t1 - $t0" | bc -l)

cat <<REPORT
## netfence run — measured at commit $(git rev-parse --short HEAD) $(date -u +%Y-%m-%d) on $(nproc) cores, $(docker version --format 'Docker {{.Server.Version}} (API {{.Server.APIVersion}})'), Compose $(docker compose version --short)

Command: \`scripts/bench-run.sh $PAIRS\` (stack: \`$STACK\`, 7 busybox services, 2 networks, 1 volume)

| what | figure |
|---|---|
| by hand: \`docker compose up -d\` + \`down -v\` of the fenced file (median of $PAIRS) | $(printf '%.2f' "$hand_med") s |
| \`netfence run -f … -- true\` (median of $PAIRS) | $(printf '%.2f' "$nf_med") s |
| **ratio run / by hand** (target ≤ 1.05) | **$(printf '%.3f' "$ratio")** |
| 10 \`netfence run\`s in sequence | $(printf '%.1f' "$seq_s") s |
| 10 \`netfence run\`s in parallel | $(printf '%.1f' "$par_s") s (speed-up $(printf '%.2f' "$(echo "$seq_s / $par_s" | bc -l)")×, $fails failed, $left containers left) |
| creating 200 leftover managed networks (docker CLI, 4 at a time) | $(printf '%.1f' "$create_s") s ($created created) |
| \`netfence gc --older-than 10y\` of them | $(printf '%.2f' "$gc_s") s ($after left) |
| by hand: \`docker network rm\` of 200 such networks (8 at a time) | $(printf '%.2f' "$hand_rm_s") s |

gc said: $(echo "$gc_out" | head -n 3 | sed 's/^/    /')

Raw pairs (s): by hand $(paste -sd' ' "$work/hand"); run $(paste -sd' ' "$work/nf").
REPORT
