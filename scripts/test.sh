#!/usr/bin/env bash
# The whole test suite: provisions a Docker engine, Compose v2 and the busybox test
# image when they are absent (scripts/provision-engine.sh), then runs every test.
#
# NETFENCE_E2E=require (CI sets it) makes engine tests fail, never skip, without an engine.
# NETFENCE_SKIP_PROVISION=1 runs the tests against whatever engine is (or is not) there.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${NETFENCE_SKIP_PROVISION:-0}" != 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    scripts/provision-engine.sh
  elif command -v sudo >/dev/null 2>&1; then
    sudo -E scripts/provision-engine.sh
  else
    echo "test.sh: not root and no sudo: engine tests need a running Docker engine" >&2
  fi
  if ! command -v dot >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq --no-install-recommends graphviz >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends graphviz >/dev/null; }
  fi
fi

cargo build --locked --all-targets
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --locked --all-targets -- "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole suite: cargo prints one per test binary, and the last
# binaries (examples) hold no tests.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1); if ($i ~ /^ignored/) s += $(i-1) } }
     END { printf "total: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
