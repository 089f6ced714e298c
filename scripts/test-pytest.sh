#!/usr/bin/env bash
# The pytest plugin's stage of scripts/test.sh (integrations/pytest): installs the plugin
# with pytest, pytest-xdist, ruff and mypy into a virtualenv, lints and type-checks it,
# then runs its tests with the netfence binary of target/debug on PATH (build it first).
#
# Every check counts: ruff check, ruff format --check and mypy --strict as one test each,
# then every test of integrations/pytest/tests. The last line is
# `pytest-plugin: N passed, N failed, N skipped`; with NETFENCE_PYTEST_COUNTS=FILE the
# three numbers are also written to FILE. Exits non-zero when anything failed.
#
# NETFENCE_E2E=require makes the engine tests fail, not skip, without an engine.
# NETFENCE_PYTEST_VENV=DIR: the virtualenv (default target/pytest-venv, kept for reruns).
# Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
plugin=$root/integrations/pytest
venv=${NETFENCE_PYTEST_VENV:-$root/target/pytest-venv}
passed=0 failed=0 skipped=0

say() { printf 'pytest-plugin: %s\n' "$*"; }
finish() {
  [ -n "${NETFENCE_PYTEST_COUNTS:-}" ] && echo "$passed $failed $skipped" >"$NETFENCE_PYTEST_COUNTS"
  say "$passed passed, $failed failed, $skipped skipped"
  [ "$failed" = 0 ]
  exit
}
check() {   # check NAME CMD... — one check, counted as one test
  local name=$1; shift
  say "$name"
  if (cd "$plugin" && "$@"); then
    passed=$((passed + 1))
  else
    say "FAILED: $name"
    failed=$((failed + 1))
  fi
}

# --- the virtualenv
t0=$SECONDS
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian splits venv (ensurepip) out of python3.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "python3 -m venv failed; apt-get install python3-venv"
      { apt-get install -y -qq --no-install-recommends python3-venv >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; }; }
    fi
    rm -rf "$venv"
    python3 -m venv "$venv" || { say "FAILED: python3 -m venv $venv"; failed=$((failed + 1)); finish; }
  fi
fi
py=$venv/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
if ! "$py" -m pip install -q -r "$plugin/requirements-ci.txt" "$plugin"; then
  say "FAILED: pip install the plugin, pytest, pytest-xdist, ruff, mypy"
  failed=$((failed + 1))
  finish
fi
say "virtualenv ready in $((SECONDS - t0))s ($("$py" --version))"

# Caches stay out of the source tree.
export RUFF_CACHE_DIR=$venv/cache/ruff MYPY_CACHE_DIR=$venv/cache/mypy PYTHONDONTWRITEBYTECODE=1

# --- lint and types
check "ruff check" "$venv/bin/ruff" check .
check "ruff format --check" "$venv/bin/ruff" format --check .
check "mypy --strict" "$venv/bin/mypy" --strict

# --- the plugin's tests, against the binary just built
junit=$(mktemp)
trap 'rm -f "$junit"' EXIT
say "pytest integrations/pytest/tests"
(cd "$plugin" && PATH="$root/target/debug:$PATH" "$py" -m pytest -p no:cacheprovider \
  --junitxml="$junit" -o junit_family=xunit2 -ra tests "$@")
code=$?
if counts=$("$py" - "$junit" <<'PY'
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
bad = n["failures"] + n["errors"]
print(n["tests"] - bad - n["skipped"], bad, n["skipped"])
PY
); then
  read -r p f s <<<"$counts"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  # pytest failed without a failing test (it could not start, or collected nothing).
  if [ "$code" != 0 ] && [ "$f" = 0 ]; then
    say "FAILED: pytest exited $code"
    failed=$((failed + 1))
  fi
else
  say "FAILED: pytest exited $code and wrote no report"
  failed=$((failed + 1))
fi
finish
