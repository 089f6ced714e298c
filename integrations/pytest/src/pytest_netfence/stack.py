"""Bringing a fenced stack up with the netfence CLI, and tearing it down.

One stack is one ``netfence run`` process that stays alive while the stack is in use::

    netfence run --run-id ID --timeout T -f FILE... [--policy P] [-p NAME] -- \\
        sh -c 'cp "$NETFENCE_RUN_INFO" OUT.tmp && mv OUT.tmp OUT && exec cat >/dev/null'

Once the stack is up, netfence runs the command, which copies the run info where this
process reads it, then blocks reading its standard input: a pipe from this process.
Closing that pipe ends the command, and netfence tears the stack down. The pipe also
closes when this process dies, however it dies (``kill -9`` included), so a crashed
pytest worker's stack is torn down by its own ``netfence run``. The live ``netfence run``
also owns the stack in the sense of ``netfence gc``: no other session's ``gc`` removes it.

Each stack has a record (a small JSON file) in the session directory, written before
netfence starts: the process that made the session (the xdist controller) reads them at
the end and runs ``netfence down --run-id`` for every stack that was not torn down cleanly.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .info import RunInfo, RunInfoError

__all__ = [
    "NetfenceError",
    "Record",
    "RunningStack",
    "StackConfig",
    "clean_up_session",
    "parse_duration",
    "read_records",
    "start_stack",
]

#: What netfence accepts as a scope id.
RUN_ID_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}")

#: The command netfence runs once the stack is up. ``$1``: where to copy the run info.
_HOLD_SCRIPT = 'cp "$NETFENCE_RUN_INFO" "$1.tmp" && mv -f "$1.tmp" "$1" && exec cat >/dev/null'

#: How long a tear-down may take before it is cut short (``netfence down`` then).
TEARDOWN_SECONDS = 120.0

#: How many lines of netfence's stderr an error message quotes.
_STDERR_LINES = 60


class NetfenceError(Exception):
    """A stack could not be brought up or torn down; the message quotes netfence."""


@dataclass(frozen=True)
class StackConfig:
    """How to bring a stack up: what ``netfence run`` is given."""

    files: tuple[Path, ...]
    netfence_bin: str
    policy: Path | None = None
    project_name: str | None = None
    #: Seconds for ``up`` plus the wait for running/healthy services (``--timeout``).
    timeout: float = 180.0
    #: The working directory of ``netfence run``.
    cwd: Path | None = None
    #: ``--logs``: each stack's container logs and final states go to ``logs/<run id>``.
    logs: Path | None = None
    #: ``--wait``: ``healthy`` (netfence's default), ``ports`` or ``running``.
    wait: str | None = None
    #: ``--profile`` for each (Compose profiles to start); none: ``COMPOSE_PROFILES``.
    profiles: tuple[str, ...] = ()
    #: ``--reuse=<worker>``: the stack stays up for the next session with the same input
    #: (one per worker), netfence naming it from the input's digest.
    reuse: bool = False

    def run_args(self, run_id: str, worker: str = "main") -> list[str]:
        """``netfence run`` and its options for ``run_id``, without the command."""
        scope = [f"--reuse={worker}"] if self.reuse else ["--run-id", run_id]
        argv = [
            self.netfence_bin,
            "run",
            *scope,
            "--timeout",
            _duration_arg(self.timeout),
        ]
        for f in self.files:
            argv += ["-f", str(f)]
        if self.policy is not None:
            argv += ["--policy", str(self.policy)]
        if self.project_name:
            argv += ["--project-name", self.project_name]
        if self.logs is not None:
            argv += ["--logs", str(self.logs / run_id)]
        if self.wait:
            argv += ["--wait", self.wait]
        for p in self.profiles:
            argv += ["--profile", p]
        return argv

    def argv(self, run_id: str, info_path: Path, worker: str = "main") -> list[str]:
        """The whole ``netfence run`` command line: the stack is held until stdin closes."""
        hold = ["sh", "-c", _HOLD_SCRIPT, "netfence-pytest", str(info_path)]
        return [*self.run_args(run_id, worker), "--", *hold]


@dataclass
class Record:
    """What the session directory says about one stack."""

    run_id: str
    worker: str
    netfence_bin: str
    #: ``starting``, ``up``, ``down`` (torn down cleanly) or ``failed`` (it never came up,
    #: and netfence removed what it had started).
    state: str = "starting"
    pid: int | None = None

    def path(self, session_dir: Path) -> Path:
        return session_dir / f"{self.run_id}.json"

    def save(self, session_dir: Path) -> None:
        session_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.path(session_dir)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(
            json.dumps(
                {
                    "run_id": self.run_id,
                    "worker": self.worker,
                    "netfence_bin": self.netfence_bin,
                    "state": self.state,
                    "pid": self.pid,
                }
            ),
            encoding="utf-8",
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Record | None:
        try:
            d: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(d, dict):
            return None
        run_id, worker, nb = d.get("run_id"), d.get("worker"), d.get("netfence_bin")
        state, pid = d.get("state"), d.get("pid")
        if not (isinstance(run_id, str) and RUN_ID_RE.fullmatch(run_id)):
            return None
        return cls(
            run_id=run_id,
            worker=worker if isinstance(worker, str) else "?",
            netfence_bin=nb if isinstance(nb, str) else "netfence",
            state=state if isinstance(state, str) else "starting",
            pid=pid if isinstance(pid, int) else None,
        )


def read_records(session_dir: Path) -> list[Record]:
    """Every stack record of a session, in run-id order."""
    if not session_dir.is_dir():
        return []
    records = [Record.load(p) for p in sorted(session_dir.glob("*.json"))]
    return [r for r in records if r is not None]


@dataclass
class RunningStack:
    """A stack that is up: its run info and the ``netfence run`` process holding it."""

    info: RunInfo
    config: StackConfig
    record: Record
    session_dir: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path = field(repr=False)
    stopped: bool = False

    @property
    def run_id(self) -> str:
        return self.info.run_id

    def stop(self) -> None:
        """Tears the stack down; ``NetfenceError`` if netfence reports a problem.

        A service that crashed while the stack was in use makes netfence exit 3: that is
        reported here too, with netfence's explanation.
        """
        if self.stopped:
            return
        self.stopped = True
        proc = self.process
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        code = _wait(proc, TEARDOWN_SECONDS)
        if code is None:
            # Once only: a second signal makes netfence abandon its tear-down.
            _signal(proc, signal.SIGTERM)
            code = _wait(proc, TEARDOWN_SECONDS)
        if code is None:
            proc.kill()
            proc.wait()
        problem = None
        if code != 0:
            problem = (
                f"netfence run (run {self.run_id}) "
                + ("did not finish its tear-down" if code is None else f"exited {code}")
                + f" when the stack was torn down:\n{_tail(self.log_path)}"
            )
            left = down(self.config.netfence_bin, self.run_id)
            if left:
                problem += f"\nnetfence down --run-id {self.run_id}: {left}"
                self._set_state("failed")
            else:
                self._set_state("down")
        else:
            self._set_state("down")
        if problem:
            raise NetfenceError(problem)

    def _set_state(self, state: str) -> None:
        self.record.state = state
        with contextlib.suppress(OSError):
            self.record.save(self.session_dir)


def start_stack(
    config: StackConfig, run_id: str, session_dir: Path, worker: str = "main"
) -> RunningStack:
    """Brings a fenced copy of the stack up under ``run_id`` and returns it once it is up.

    ``NetfenceError`` (quoting netfence's stderr) when it cannot come up; netfence has
    then removed what it had started.
    """
    if not RUN_ID_RE.fullmatch(run_id):
        raise NetfenceError(f"invalid run id {run_id!r}: netfence wants {RUN_ID_RE.pattern}")
    session_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    info_path = session_dir / f"{run_id}.info"
    log_path = session_dir / f"{run_id}.log"
    with contextlib.suppress(FileNotFoundError):
        info_path.unlink()
    record = Record(run_id=run_id, worker=worker, netfence_bin=config.netfence_bin)
    record.save(session_dir)
    argv = config.argv(run_id, info_path, worker)
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                cwd=config.cwd,
                # Its own session: a Ctrl-C at the terminal reaches pytest, which tears the
                # stack down; netfence does not also see it (a second signal there would
                # abandon its tear-down).
                start_new_session=True,
            )
        except OSError as e:
            record.state = "failed"
            record.save(session_dir)
            raise NetfenceError(f"cannot run {config.netfence_bin}: {e}") from None
    record.pid = proc.pid
    record.save(session_dir)
    try:
        info = _wait_until_up(proc, info_path, log_path, config, run_id)
    except BaseException:
        _abandon(proc)
        record.state = "failed"
        record.save(session_dir)
        raise
    record.state = "up"
    record.save(session_dir)
    return RunningStack(
        info=info,
        config=config,
        record=record,
        session_dir=session_dir,
        process=proc,
        log_path=log_path,
    )


def _wait_until_up(
    proc: subprocess.Popen[bytes],
    info_path: Path,
    log_path: Path,
    config: StackConfig,
    run_id: str,
) -> RunInfo:
    # netfence's --timeout covers `up` and the wait; planning and networks come on top.
    deadline = time.monotonic() + config.timeout + 60
    delay = 0.02
    while True:
        if info_path.exists():
            try:
                return RunInfo.load(info_path)
            except (OSError, RunInfoError) as e:
                raise NetfenceError(f"reading the run info of run {run_id}: {e}") from None
        code = proc.poll()
        if code is not None:
            raise NetfenceError(
                f"netfence could not bring the stack up (run {run_id}, exit {code}):\n"
                f"  $ {_shell_join(config.run_args(run_id))} -- ...\n"
                f"{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise NetfenceError(
                f"the stack of run {run_id} was not up after {config.timeout + 60:.0f}s "
                f"(netfence --timeout {config.timeout:.0f}s plus a minute):\n{_tail(log_path)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def _abandon(proc: subprocess.Popen[bytes]) -> None:
    """Stops a start that will not be used: netfence tears down what it started."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    if proc.poll() is None:
        _signal(proc, signal.SIGTERM)
        if _wait(proc, TEARDOWN_SECONDS) is None:
            proc.kill()
            proc.wait()


def down(netfence_bin: str, run_id: str) -> str | None:
    """``netfence down --run-id``; None when it succeeded, else what it said."""
    try:
        r = subprocess.run(
            [netfence_bin, "down", "--run-id", run_id],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TEARDOWN_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if r.returncode == 0:
        return None
    out = (r.stderr + r.stdout).decode(errors="replace").strip()
    return f"exit {r.returncode}: {out}"


@dataclass(frozen=True)
class Cleaned:
    """A stack the session's end had to tear down: its worker did not."""

    record: Record
    #: None when ``netfence down`` succeeded, else what it said.
    error: str | None


def clean_up_session(session_dir: Path) -> tuple[list[Record], list[Cleaned]]:
    """At the end of a session: tears down every stack of ``session_dir`` that was not.

    For each one whose ``netfence run`` still runs (its worker died and it is tearing the
    stack down, or something still holds its pipe), that process gets one SIGTERM and
    some time to finish; then ``netfence down --run-id`` removes whatever is left.
    Only this session's run ids are touched. Returns all the records, and what was
    cleaned.
    """
    records = read_records(session_dir)
    cleaned = []
    for rec in records:
        if rec.state == "down":
            continue
        if rec.pid is not None and _is_netfence_of(rec.pid, rec.run_id):
            with contextlib.suppress(OSError):
                os.kill(rec.pid, signal.SIGTERM)
            deadline = time.monotonic() + TEARDOWN_SECONDS
            while _is_netfence_of(rec.pid, rec.run_id) and time.monotonic() < deadline:
                time.sleep(0.1)
        error = down(rec.netfence_bin, rec.run_id)
        if rec.state == "failed" and error is None:
            # It never came up and netfence cleaned after itself: nothing to report.
            continue
        cleaned.append(Cleaned(rec, error))
    return records, cleaned


def remove_session_dir(session_dir: Path) -> None:
    shutil.rmtree(session_dir, ignore_errors=True)


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``1m30s``, ``500ms``, ``2h``; ValueError otherwise."""
    t = text.strip().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t)
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", t)
    if not parts or "".join(n + u for n, u in parts) != t:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 3m, 1m30s)")
    return sum(float(n) * units[u] for n, u in parts)


def _duration_arg(seconds: float) -> str:
    """``90s`` or ``1500ms``, as netfence's ``--timeout`` reads it."""
    if seconds == int(seconds):
        return f"{max(1, int(seconds))}s"
    return f"{max(1, round(seconds * 1000))}ms"


def _wait(proc: subprocess.Popen[bytes], seconds: float) -> int | None:
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(OSError):
        proc.send_signal(sig)


def _is_netfence_of(pid: int, run_id: str) -> bool:
    """Is ``pid`` a live ``netfence run`` of ``run_id`` (not a recycled pid, not a zombie)?"""
    proc = Path("/proc") / str(pid)
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
    return state not in ("Z", "X") and run_id.encode() in cmdline and b"run" in cmdline


def _tail(path: Path, lines: int = _STDERR_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "  (no output from netfence)"
    kept = [ln for ln in text.splitlines() if ln.strip()]
    if not kept:
        return "  (no output from netfence)"
    cut = kept[-lines:]
    head = [f"  ... ({len(kept) - lines} earlier lines)"] if len(kept) > lines else []
    return "\n".join(head + ["  " + ln for ln in cut])


def _shell_join(argv: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in argv)


@contextlib.contextmanager
def fenced_stack(
    config: StackConfig, run_id: str, session_dir: Path, worker: str = "main"
) -> Iterator[RunInfo]:
    """A stack for the duration of a ``with`` block."""
    stack = start_stack(config, run_id, session_dir, worker)
    try:
        yield stack.info
    finally:
        stack.stop()
