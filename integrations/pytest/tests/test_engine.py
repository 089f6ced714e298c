"""The plugin against a real Docker engine and the real netfence binary.

Skipped when there is no engine or no netfence (on PATH or $NETFENCE_BIN); with
NETFENCE_E2E=require (CI) that is a failure instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "example"

#: A stack with no build and one service: quick to bring up and down.
SMALL = """\
services:
  app:
    image: netfence-busybox:latest
    pull_policy: never
    init: true
    container_name: small-app
    command: ["nc", "-ll", "-p", "7000", "-e", "echo", "hello-small"]
    ports: ["7000:7000"]
"""

#: A stack that never comes up: its service says something, then fails its healthcheck.
UNHEALTHY = """\
services:
  app:
    image: netfence-busybox:latest
    pull_policy: never
    init: true
    command: ["sh", "-c", "echo boom-from-the-service; sleep 300"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      timeout: 1s
      retries: 1
"""


@pytest.fixture(scope="module")
def netfence_bin() -> str:
    """The netfence binary, with a reachable engine behind it."""
    problem = None
    found = os.environ.get("NETFENCE_BIN") or shutil.which("netfence")
    if not found:
        problem = "netfence is neither on PATH nor named by NETFENCE_BIN"
    elif not shutil.which("docker"):
        problem = "no docker CLI"
    else:
        r = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
        if r.returncode != 0:
            problem = f"no Docker engine: {r.stderr.strip()[-300:]}"
    if problem:
        if os.environ.get("NETFENCE_E2E") == "require":
            pytest.fail(f"engine tests required (NETFENCE_E2E=require): {problem}")
        pytest.skip(problem)
    assert found
    return found


def engine_objects(marker: str) -> list[str]:
    """Containers, networks and volumes whose name or netfence scope holds ``marker``."""
    listings = [
        ["docker", "ps", "-a", "--format", '{{.Names}} {{.Label "io.netfence.scope"}}'],
        ["docker", "network", "ls", "--format", '{{.Name}} {{.Label "io.netfence.scope"}}'],
        ["docker", "volume", "ls", "--format", '{{.Name}} {{.Label "io.netfence.scope"}}'],
    ]
    found = []
    for argv in listings:
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        found += [f"{argv[1]}: {ln}" for ln in out.splitlines() if marker in ln]
    return found


def session_of(output: str) -> tuple[str, list[str]]:
    """The session token and the run ids the plugin's summary names."""
    m = re.search(r"netfence: session (\w+): \d+ stack\(s\): (.*)", output)
    assert m, output
    return m.group(1), re.findall(r"(pyt-\S+) \(", m.group(2))


@dataclass(frozen=True)
class Finished:
    returncode: int
    out: str


@pytest.fixture(scope="module")
def example_runs(
    netfence_bin: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Finished]:
    """The example with ``-n 3``, twice at once: as it is, and with a worker killed.

    Two sessions on one engine at the same time, too: neither may touch the other's.
    """
    logs = tmp_path_factory.mktemp("example")
    procs = {}
    for crash in ("0", "1"):
        with open(logs / f"crash{crash}.log", "w") as log:
            procs[crash] = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "3"],
                cwd=EXAMPLE,
                env={
                    **os.environ,
                    "PYTHONDONTWRITEBYTECODE": "1",
                    "NETFENCE_BIN": netfence_bin,
                    "NETFENCE_EXAMPLE_CRASH": crash,
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    try:
        return {
            k: Finished(p.wait(timeout=600), (logs / f"crash{k}.log").read_text())
            for k, p in procs.items()
        }
    finally:
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)  # its stacks go when their pipes close
                p.wait()


def test_example_with_three_workers(example_runs: dict[str, Finished]) -> None:
    r = example_runs["0"]
    out = r.out
    assert r.returncode == 0, out
    assert re.search(r"\b13 passed, 1 skipped\b", out), out
    token, runs = session_of(out)
    # One stack per worker, each in a scope of its own.
    assert sorted(runs) == [f"pyt-{token}-gw{i}" for i in range(3)], out
    assert f"nothing of session {token} is left" in out
    assert engine_objects(f"pyt-{token}-") == []
    assert not list(EXAMPLE.glob(".netfence-*.yml"))


def test_crashed_worker_leaves_nothing(example_runs: dict[str, Finished]) -> None:
    r = example_runs["1"]
    out = r.out
    assert r.returncode == 1, out
    m = re.search(r"worker '(gw\d+)' crashed while running 'test_crash.py::test_worker_dies'", out)
    assert m, out
    token, runs = session_of(out)
    assert token != session_of(example_runs["0"].out)[0]
    crashed = f"pyt-{token}-{m.group(1)}"
    assert crashed in runs
    assert f"run {crashed} was not torn down by its worker" in out
    assert re.search(r"\b1 failed, 13 passed\b", out), out
    assert engine_objects(f"pyt-{token}-") == []


def test_stack_that_cannot_come_up(netfence_bin: str, pytester: pytest.Pytester) -> None:
    # Unhealthy for sure. (A service that exits at once can still look running for a
    # moment, and pass netfence's wait on a loaded machine.)
    pytester.makefile(".yml", compose=UNHEALTHY)
    pytester.makeini(
        f"[pytest]\nnetfence_compose_files = compose.yml\nnetfence_bin = {netfence_bin}\n"
    )
    pytester.makepyfile("def test_one(netfence_stack):\n    pass\n")
    r = pytester.runpytest("-p", "no:xdist")
    r.assert_outcomes(errors=1)
    r.stdout.fnmatch_lines(
        [
            "*netfence could not bring the stack up (run pyt-*-main, exit 3):",
            "*boom-from-the-service*",
        ]
    )
    token, _ = session_of(r.stdout.str())
    assert engine_objects(f"pyt-{token}-") == []


def test_logs_are_kept_after_the_stack_is_gone(
    netfence_bin: str, pytester: pytest.Pytester
) -> None:
    """``netfence_logs``: the service's output is there after the session, per stack."""
    talkative = SMALL.replace(
        'command: ["nc",', 'command: ["sh", "-c", "echo small-says-hi; exec nc \\"$$@\\"", "nc",'
    )
    pytester.makefile(".yml", compose=talkative)
    pytester.makeini(
        "[pytest]\nnetfence_compose_files = compose.yml\nnetfence_logs = ci-logs\n"
        f"netfence_wait = ports\nnetfence_bin = {netfence_bin}\n"
    )
    pytester.makepyfile(
        "import socket\n"
        "def test_one(netfence_stack):\n"
        "    with socket.create_connection(netfence_stack.address('app', 7000), 5) as s:\n"
        "        assert s.recv(64) == b'hello-small\\n'\n"
    )
    r = pytester.runpytest("-p", "no:xdist")
    r.assert_outcomes(passed=1)
    token, [run_id] = session_of(r.stdout.str())
    kept = pytester.path / "ci-logs" / run_id
    state = json.loads((kept / "app-1.json").read_text())
    assert state["service"] == "app", state
    assert state["status"] == "running", state
    assert " stdout small-says-hi" in (kept / "app-1.log").read_text()
    assert engine_objects(f"pyt-{token}-") == []


def test_reuse_keeps_the_stack_for_the_next_session(
    netfence_bin: str, pytester: pytest.Pytester
) -> None:
    """``netfence_reuse``: a second session gets the first one's containers, as they were."""
    pytester.makefile(".yml", compose=SMALL)
    pytester.makeini(
        "[pytest]\nnetfence_compose_files = compose.yml\nnetfence_reuse = true\n"
        f"netfence_bin = {netfence_bin}\n"
    )
    pytester.makepyfile(
        "def test_one(netfence_stack):\n"
        "    app = netfence_stack.service('app').containers[0]\n"
        "    with open('seen.txt', 'a') as f:\n"
        "        f.write(app.id + '\\n')\n"
    )
    for _ in range(2):
        r = pytester.runpytest("-p", "no:xdist")
        r.assert_outcomes(passed=1)
    first, second = (pytester.path / "seen.txt").read_text().split()
    assert first == second, "the second session used the first one's container"
    kept = [ln.split()[2] for ln in engine_objects("reuse-") if ln.startswith("ps:")]
    scopes = {s for s in kept if s.endswith("-main")}
    assert len(scopes) == 1, kept
    subprocess.run(
        [netfence_bin, "down", "--run-id", scopes.pop().removeprefix("run:")], check=True
    )


def test_ctrl_c_tears_down(netfence_bin: str, tmp_path: Path) -> None:
    """SIGINT to the session's process group, as a Ctrl-C at the terminal sends it."""
    (tmp_path / "compose.yml").write_text(SMALL)
    (tmp_path / "pytest.ini").write_text("[pytest]\nnetfence_compose_files = compose.yml\n")
    (tmp_path / "test_wait.py").write_text(
        "import os, socket, time\n"
        "def wait(stack):\n"
        "    with socket.create_connection(stack.address('app', 7000), 5) as s:\n"
        "        assert s.recv(64) == b'hello-small\\n'\n"
        "    with open(stack.run_id + '.up', 'w') as f:\n"
        "        f.write('up')\n"
        "    time.sleep(300)\n"
        "def test_a(netfence_stack):\n"
        "    wait(netfence_stack)\n"
        "def test_b(netfence_stack):\n"
        "    wait(netfence_stack)\n"
    )
    log = tmp_path / "pytest.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2"],
            cwd=tmp_path,
            env={**os.environ, "NETFENCE_BIN": netfence_bin, "PYTHONDONTWRITEBYTECODE": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A test runner started in the background may have SIGINT ignored; a
            # terminal's pytest has it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        deadline = time.monotonic() + 180
        while len(list(tmp_path.glob("*.up"))) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        runs = sorted(p.name[: -len(".up")] for p in tmp_path.glob("*.up"))
        assert len(runs) == 2, log.read_text()
        for run_id in runs:
            assert engine_objects(run_id), "the stacks are up while the tests run"
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its stacks go when their pipes close
            proc.wait()
    out_text = log.read_text()
    assert proc.returncode == 2, out_text  # pytest: interrupted
    assert "KeyboardInterrupt" in out_text
    for run_id in runs:
        assert engine_objects(run_id) == [], out_text
