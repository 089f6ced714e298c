"""The pytest plugin: options, the session token, the fixtures, crash clean-up.

The process that starts the session (the xdist controller, or the only process without
xdist) makes a session token and a session directory and hands both to every worker
through ``workerinput``. A worker's stacks get run ids ``pyt-<token>-<worker>`` (and
``pyt-<token>-<worker>-<name>`` for named ones), so two sessions never share a scope and
the controller knows every scope its session may have left. At the end the controller
tears down each stack whose worker did not (see ``stack.clean_up_session``).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from .info import RunInfo
from .stack import (
    Cleaned,
    NetfenceError,
    Record,
    RunningStack,
    StackConfig,
    clean_up_session,
    parse_duration,
    remove_session_dir,
    start_stack,
)

__all__ = ["NetfenceSession", "netfence_session", "netfence_stack"]

#: Compose's own default file names, tried in the root directory when none is configured.
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
DEFAULT_TIMEOUT = "3m"
#: What ``netfence run --wait`` takes.
WAITS = ("ports", "healthy", "running")
_NAME_RE = re.compile(r"[a-zA-Z0-9_.-]+")


class NetfenceSession:
    """This process's share of the pytest session: run ids, configuration, stacks.

    The ``netfence_session`` fixture. ``stack()`` brings up more stacks than the default
    one, e.g. a second compose project: ``with netfence_session.stack("db", files=[...])``.
    """

    def __init__(self, config: pytest.Config, token: str, session_dir: Path, worker: str) -> None:
        self.pytest_config = config
        #: Random per pytest session; the same in every worker.
        self.token = token
        #: Where stack records and netfence's logs go; the controller removes it.
        self.session_dir = session_dir
        #: ``gw0``, ``gw1``... under xdist, ``main`` without.
        self.worker_id = worker
        self._running: list[RunningStack] = []

    def run_id(self, name: str | None = None) -> str:
        """The run id of this worker's stack ``name`` (the default stack: no name)."""
        rid = f"pyt-{self.token}-{self.worker_id}"
        if name is not None:
            if not _NAME_RE.fullmatch(name):
                raise NetfenceError(f"stack name {name!r}: use letters, digits, '_', '.', '-'")
            rid += f"-{name}"
        if len(rid) > 63:
            raise NetfenceError(f"run id {rid!r} is longer than the 63 characters netfence allows")
        return rid

    def stack_config(
        self,
        files: Sequence[str | Path] | None = None,
        policy: str | Path | None = None,
        project_name: str | None = None,
        timeout: float | None = None,
    ) -> StackConfig:
        """The ``StackConfig`` from the command line, the ini file and these overrides.

        Relative paths given here are relative to the ini file's directory (else the
        root directory), like those in the ini file.
        """
        cfg = self.pytest_config
        base = _ini_dir(cfg)
        cwd = cfg.invocation_params.dir
        opt = cfg.option

        if files is not None:
            paths = [base / Path(f) for f in files]
        elif getattr(opt, "netfence_files", None):
            paths = [cwd / Path(f) for f in opt.netfence_files]
        elif cfg.getini("netfence_compose_files"):
            paths = [base / Path(f) for f in cfg.getini("netfence_compose_files")]
        else:
            found = [base / n for n in DEFAULT_FILES if (base / n).is_file()]
            if not found:
                raise NetfenceError(
                    "no compose file: set netfence_compose_files in the ini file (or "
                    f"--netfence-file); none of {', '.join(DEFAULT_FILES)} is in {base}"
                )
            paths = found[:1]
        for p in paths:
            if not p.is_file():
                raise NetfenceError(f"compose file {p} does not exist")

        pol: Path | None = None
        if policy is not None:
            pol = base / Path(policy)
        elif getattr(opt, "netfence_policy", None):
            pol = cwd / Path(opt.netfence_policy)
        elif cfg.getini("netfence_policy"):
            pol = base / Path(str(cfg.getini("netfence_policy")))

        name = (
            project_name
            or getattr(opt, "netfence_project_name", None)
            or str(cfg.getini("netfence_project_name") or "")
            or None
        )

        if timeout is None:
            text = (
                getattr(opt, "netfence_timeout", None)
                or str(cfg.getini("netfence_timeout") or "")
                or DEFAULT_TIMEOUT
            )
            try:
                timeout = parse_duration(text)
            except ValueError as e:
                raise NetfenceError(f"netfence_timeout: {e}") from None

        return StackConfig(
            files=tuple(p.resolve() for p in paths),
            netfence_bin=self.netfence_bin(),
            policy=pol.resolve() if pol else None,
            project_name=name,
            timeout=timeout,
            cwd=Path(cfg.rootpath),
            logs=self._logs_dir(),
            wait=self._wait(),
            profiles=self._profiles(),
            reuse=self._reuse(),
        )

    def _logs_dir(self) -> Path | None:
        """``--netfence-logs``, else ``netfence_logs`` (relative to the ini file)."""
        cfg = self.pytest_config
        given = getattr(cfg.option, "netfence_logs", None)
        if given:
            return (cfg.invocation_params.dir / Path(given)).resolve()
        ini = str(cfg.getini("netfence_logs") or "")
        return (_ini_dir(cfg) / Path(ini)).resolve() if ini else None

    def _wait(self) -> str | None:
        cfg = self.pytest_config
        wait = getattr(cfg.option, "netfence_wait", None) or str(cfg.getini("netfence_wait") or "")
        if wait and wait not in WAITS:
            raise NetfenceError(f"netfence_wait: {wait!r} is not one of {', '.join(WAITS)}")
        return wait or None

    def _reuse(self) -> bool:
        cfg = self.pytest_config
        if getattr(cfg.option, "netfence_reuse", False):
            return True
        return bool(cfg.getini("netfence_reuse"))

    def _profiles(self) -> tuple[str, ...]:
        cfg = self.pytest_config
        given = getattr(cfg.option, "netfence_profiles", None)
        names = given if given else cfg.getini("netfence_profiles")
        return tuple(str(n) for n in names)

    def netfence_bin(self) -> str:
        """The netfence binary: ``--netfence-bin``, ``$NETFENCE_BIN``, ``netfence_bin``
        in the ini file, else ``netfence`` on PATH."""
        cfg = self.pytest_config
        given: tuple[str, Path, str] | None = None
        if getattr(cfg.option, "netfence_bin", None):
            given = (cfg.option.netfence_bin, cfg.invocation_params.dir, "--netfence-bin")
        elif os.environ.get("NETFENCE_BIN"):
            given = (os.environ["NETFENCE_BIN"], cfg.invocation_params.dir, "NETFENCE_BIN")
        elif cfg.getini("netfence_bin"):
            given = (str(cfg.getini("netfence_bin")), _ini_dir(cfg), "netfence_bin")
        if given is None:
            found = shutil.which("netfence")
            if found is None:
                raise NetfenceError(
                    "netfence is not on PATH: install it, or name the binary with "
                    "NETFENCE_BIN, --netfence-bin or netfence_bin in the ini file"
                )
            return found
        value, base, where = given
        if os.sep in value:
            path = base / Path(value).expanduser()
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise NetfenceError(f"{where}: {path} is not an executable file")
            return str(path.resolve())
        found = shutil.which(value)
        if found is None:
            raise NetfenceError(f"{where}: {value!r} is not on PATH")
        return found

    def start(
        self,
        name: str | None = None,
        *,
        files: Sequence[str | Path] | None = None,
        policy: str | Path | None = None,
        project_name: str | None = None,
        timeout: float | None = None,
    ) -> RunningStack:
        """Brings up a fenced stack and returns it once it is up; ``stop()`` it after.

        ``NetfenceError`` when it cannot come up (the message quotes netfence).
        """
        config = self.stack_config(files, policy, project_name, timeout)
        running = start_stack(config, self.run_id(name), self.session_dir, self.worker_id)
        self._running.append(running)
        return running

    def stop(self, running: RunningStack) -> None:
        """Tears a stack down; ``NetfenceError`` when netfence reports a problem."""
        if running in self._running:
            self._running.remove(running)
        running.stop()

    @contextlib.contextmanager
    def stack(
        self,
        name: str | None = None,
        *,
        files: Sequence[str | Path] | None = None,
        policy: str | Path | None = None,
        project_name: str | None = None,
        timeout: float | None = None,
    ) -> Iterator[RunInfo]:
        """A fenced stack for the ``with`` block, torn down after it."""
        running = self.start(
            name, files=files, policy=policy, project_name=project_name, timeout=timeout
        )
        try:
            yield running.info
        finally:
            self.stop(running)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netfence", "fenced Docker Compose stacks (netfence)")
    group.addoption(
        "--netfence-file",
        action="append",
        dest="netfence_files",
        metavar="FILE",
        help="compose file for netfence_stack (repeatable; overrides netfence_compose_files)",
    )
    group.addoption("--netfence-policy", metavar="FILE", help="netfence policy file")
    group.addoption("--netfence-project-name", metavar="NAME", help="Compose project name")
    group.addoption(
        "--netfence-timeout",
        metavar="DURATION",
        help=f"how long a stack may take to come up (default {DEFAULT_TIMEOUT})",
    )
    group.addoption(
        "--netfence-bin", metavar="PATH", help="the netfence binary (else $NETFENCE_BIN, PATH)"
    )
    group.addoption(
        "--netfence-logs",
        metavar="DIR",
        help="keep every container's log and final state in DIR/<run id> (netfence run --logs)",
    )
    group.addoption(
        "--netfence-reuse",
        action="store_true",
        default=False,
        help="keep each worker's stack for the next session with the same input",
    )
    group.addoption(
        "--netfence-wait",
        choices=WAITS,
        help="when a stack counts as up (netfence run --wait; default healthy)",
    )
    group.addoption(
        "--netfence-profile",
        action="append",
        dest="netfence_profiles",
        metavar="NAME",
        help="Compose profile to start (repeatable; overrides netfence_profiles)",
    )
    parser.addini(
        "netfence_compose_files",
        type="linelist",
        default=[],
        help="compose files for netfence_stack, relative to the ini file",
    )
    parser.addini("netfence_policy", default="", help="netfence policy file (--policy)")
    parser.addini("netfence_project_name", default="", help="Compose project name (-p)")
    parser.addini(
        "netfence_timeout",
        default=DEFAULT_TIMEOUT,
        help="how long a stack may take to come up, e.g. 90s or 3m",
    )
    parser.addini("netfence_bin", default="", help="the netfence binary (else on PATH)")
    parser.addini(
        "netfence_logs",
        default="",
        help="directory (relative to the ini file) that keeps each stack's container logs "
        "and final states, in a subdirectory per run id, after the stack is gone",
    )
    parser.addini(
        "netfence_wait", default="", help="when a stack counts as up: ports, healthy or running"
    )
    parser.addini(
        "netfence_profiles",
        type="linelist",
        default=[],
        help="Compose profiles to start (else COMPOSE_PROFILES)",
    )
    parser.addini(
        "netfence_reuse",
        type="bool",
        default=False,
        help="keep each worker's stack for the next session with the same input "
        "(netfence run --reuse): only what changed is brought up again",
    )


_SESSION = pytest.StashKey[NetfenceSession]()
_RESULT = pytest.StashKey[tuple[list[Record], list[Cleaned]]]()


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    token: str | None = None
    session_dir: str | None = None
    worker = "main"
    if workerinput is not None:
        token = workerinput.get("netfence_session")
        session_dir = workerinput.get("netfence_session_dir")
        worker = str(workerinput.get("workerid", "worker"))
    if not token:
        token = secrets.token_hex(4)
    if not session_dir:
        session_dir = str(Path(tempfile.gettempdir()) / f"netfence-pytest-{token}")
    config.stash[_SESSION] = NetfenceSession(config, token, Path(session_dir), worker)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, on the controller: every worker gets the session's token and directory."""
    session = node.config.stash[_SESSION]
    node.workerinput["netfence_session"] = session.token
    node.workerinput["netfence_session_dir"] = str(session.session_dir)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """On the controller, after the workers are gone: tear down what they left."""
    config = session.config
    if _is_worker(config) or _SESSION not in config.stash:
        return
    ns = config.stash[_SESSION]
    for running in list(ns._running):
        with contextlib.suppress(NetfenceError):
            running.stop()
    records, cleaned = clean_up_session(ns.session_dir)
    config.stash[_RESULT] = (records, cleaned)
    if any(c.error for c in cleaned) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    remove_session_dir(ns.session_dir)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _is_worker(config) or _RESULT not in config.stash:
        return
    records, cleaned = config.stash[_RESULT]
    if not records:
        return
    ns = config.stash[_SESSION]
    tr = terminalreporter
    tr.write_sep("-", "netfence")
    runs = ", ".join(
        f"{r.run_id} ({r.worker}{', did not come up' if r.state == 'failed' else ''})"
        for r in records
    )
    tr.write_line(f"netfence: session {ns.token}: {len(records)} stack(s): {runs}")
    logs = ns._logs_dir()
    if logs is not None:
        tr.write_line(f"netfence: container logs and final states: {logs}/<run id>/")
    for c in cleaned:
        rid = c.record.run_id
        if c.error is None:
            tr.write_line(
                f"netfence: run {rid} was not torn down by its worker {c.record.worker} "
                f"(it crashed?): removed with `netfence down --run-id {rid}`",
                yellow=True,
            )
        else:
            tr.write_line(
                f"netfence: run {rid} of worker {c.record.worker} could not be removed: {c.error}",
                red=True,
            )
    if not any(c.error for c in cleaned):
        tr.write_line(f"netfence: nothing of session {ns.token} is left on the engine")


def _ini_dir(config: pytest.Config) -> Path:
    inipath = config.inipath
    return Path(inipath).parent if inipath else Path(config.rootpath)


@pytest.fixture(scope="session")
def netfence_session(pytestconfig: pytest.Config) -> NetfenceSession:
    """This worker's share of the session: run ids, configuration, ``stack()``."""
    return pytestconfig.stash[_SESSION]


@pytest.fixture(scope="session")
def netfence_stack(netfence_session: NetfenceSession) -> Iterator[RunInfo]:
    """This worker's own fenced copy of the stack, up for the whole session.

    Configured by ``netfence_compose_files``, ``netfence_policy``,
    ``netfence_project_name``, ``netfence_timeout``, ``netfence_wait``,
    ``netfence_profiles``, ``netfence_logs`` and ``netfence_bin`` in the ini file (or
    ``--netfence-*`` options). Yields the run info: services with their published
    ports and container IPs, networks with their subnets, the project name, the run id.
    """
    problem = None
    try:
        running = netfence_session.start()
    except NetfenceError as e:
        problem = str(e)
    if problem is not None:
        # Outside the except block: the error alone, not "during handling of...".
        pytest.fail(problem, pytrace=False)
    yield running.info
    try:
        netfence_session.stop(running)
    except NetfenceError as e:
        problem = str(e)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
