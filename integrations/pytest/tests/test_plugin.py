"""The plugin with a stand-in netfence (tests/fake_netfence.py): no engine needed."""

from __future__ import annotations

import os
import re
import stat
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).parent

COMPOSE = "services:\n  web:\n    image: netfence-busybox:latest\n"


@dataclass
class Fake:
    bin: Path
    log: Path

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def run_ids(self) -> list[str]:
        """The run id of every ``netfence run``."""
        return [ln.split("--run-id ")[1].split()[0] for ln in self.lines() if ln.startswith("run ")]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "netfence"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "fake_netfence.py"}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "netfence.log"
    monkeypatch.setenv("FAKE_NETFENCE_LOG", str(log))
    monkeypatch.setenv("NETFENCE_BIN", str(exe))
    monkeypatch.delenv("FAKE_NETFENCE_MODE", raising=False)
    return Fake(exe, log)


def test_stack_comes_up_and_is_torn_down(pytester: pytest.Pytester, fake: Fake) -> None:
    pytester.makefile(".yml", compose=COMPOSE)
    pytester.makeini("[pytest]\nnetfence_compose_files = compose.yml\n")
    pytester.makepyfile(
        """
        def test_one(netfence_stack):
            assert netfence_stack.run_id.startswith("pyt-")
            assert netfence_stack.run_id.endswith("-main")
            assert netfence_stack.address("web", 80) == ("127.0.0.1", 33078)

        def test_two(netfence_stack, netfence_session):
            assert netfence_stack.run_id == netfence_session.run_id()
        """
    )
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(passed=2)
    lines = fake.lines()
    # One stack for the session, torn down by closing the command's stdin.
    runs = [ln for ln in lines if ln.startswith("run ")]
    assert len(runs) == 1, lines
    assert "-f " + str(pytester.path / "compose.yml") in runs[0]
    assert "--timeout 180s" in runs[0]
    assert any(ln.startswith("torn down pyt-") and "exited 0" in ln for ln in lines), lines
    assert not any(ln.startswith("down ") for ln in lines), lines
    result.stdout.fnmatch_lines(["netfence: session *: 1 stack(s): pyt-*-main (main)"])


def test_unused_fixture_starts_nothing(pytester: pytest.Pytester, fake: Fake) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(passed=1)
    assert fake.lines() == []
    assert "netfence: session" not in result.stdout.str()


def test_stack_that_cannot_come_up_is_a_clear_error(
    pytester: pytest.Pytester, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NETFENCE_MODE", "fail")
    pytester.makefile(".yml", compose=COMPOSE)
    pytester.makeini("[pytest]\nnetfence_compose_files = compose.yml\n")
    pytester.makepyfile(
        """
        def test_one(netfence_stack):
            pass

        def test_two(netfence_stack):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*netfence could not bring the stack up (run pyt-*-main, exit 3):",
            "*boom: the fake engine says no",
        ]
    )
    # Tried once for the session, not once per test.
    assert len([ln for ln in fake.lines() if ln.startswith("run ")]) == 1


def test_service_that_crashed_meanwhile_fails_the_teardown(
    pytester: pytest.Pytester, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NETFENCE_MODE", "crash")
    pytester.makefile(".yml", compose=COMPOSE)
    pytester.makeini("[pytest]\nnetfence_compose_files = compose.yml\n")
    pytester.makepyfile("def test_one(netfence_stack):\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_one*",
            "netfence run (run pyt-*-main) exited 3 when the stack was torn down:",
            "*service `db` exited with status 1",
        ]
    )
    # What a failed tear-down may have left is removed by label.
    [run_id] = fake.run_ids()
    assert f"down {run_id}" in fake.lines()


def test_ini_options_and_command_line(pytester: pytest.Pytester, fake: Fake) -> None:
    pytester.makefile(".yml", compose=COMPOSE, override="services: {}\n")
    pytester.makefile(".yml", policy="version: 1\n")
    pytester.makeini(
        """
        [pytest]
        netfence_compose_files =
            compose.yml
            override.yml
        netfence_policy = policy.yml
        netfence_project_name = shop
        netfence_timeout = 1m30s
        """
    )
    pytester.makepyfile(
        f"""
        from pathlib import Path

        def test_config(netfence_session):
            c = netfence_session.stack_config()
            assert [p.name for p in c.files] == ["compose.yml", "override.yml"]
            assert c.policy == Path("{pytester.path}") / "policy.yml"
            assert c.project_name == "cli-name"
            assert c.timeout == 90
            assert c.netfence_bin == "{fake.bin}"
            assert netfence_session.run_id("db") == netfence_session.run_id() + "-db"
        """
    )
    result = pytester.runpytest("-p", "no:xdist", "--netfence-project-name=cli-name")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("ini", "env", "message"),
    [
        ("netfence_bin = /nonexistent/netfence", {}, "*netfence_bin: /nonexistent/netfence is*"),
        ("", {"PATH": "/nonexistent"}, "*netfence is not on PATH*"),
        ("netfence_compose_files = nope.yml", None, "*compose file */nope.yml does not exist*"),
        ("netfence_timeout = soon", None, "*netfence_timeout: not a duration: 'soon'*"),
    ],
)
def test_configuration_errors(
    pytester: pytest.Pytester,
    fake: Fake,
    monkeypatch: pytest.MonkeyPatch,
    ini: str,
    env: dict[str, str] | None,
    message: str,
) -> None:
    pytester.makefile(".yml", compose=COMPOSE)
    if env is not None:
        monkeypatch.delenv("NETFENCE_BIN")
        for k, v in env.items():
            monkeypatch.setenv(k, v)
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_one(netfence_stack):\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([message])
    assert fake.lines() == []
    assert "Traceback" not in result.stdout.str()


def test_no_compose_file_found(pytester: pytest.Pytester, fake: Fake) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile("def test_one(netfence_stack):\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no compose file: set netfence_compose_files*"])


def test_workers_get_their_own_stacks(pytester: pytest.Pytester, fake: Fake) -> None:
    pytest.importorskip("xdist")
    pytester.makefile(".yml", compose=COMPOSE)
    pytester.makeini("[pytest]\nnetfence_compose_files = compose.yml\n")
    pytester.makepyfile(
        **{
            f"test_w{i}": textwrap.dedent(
                """
                import os
                def test_a(netfence_stack):
                    assert netfence_stack.run_id.endswith("-" + os.environ["PYTEST_XDIST_WORKER"])
                def test_b(netfence_stack):
                    pass
                """
            )
            for i in range(3)
        }
    )
    result = pytester.runpytest("-n", "2")
    result.assert_outcomes(passed=6)
    runs = sorted(fake.run_ids())
    assert len(runs) == 2, fake.lines()
    token = runs[0].split("-")[1]
    assert runs == [f"pyt-{token}-gw0", f"pyt-{token}-gw1"]
    assert all(f"torn down {r}" in "\n".join(fake.lines()) for r in runs)
    result.stdout.fnmatch_lines([f"netfence: session {token}: 2 stack(s): *"])


def test_crashed_worker_is_cleaned_by_the_controller(pytester: pytest.Pytester, fake: Fake) -> None:
    pytest.importorskip("xdist")
    pytester.makefile(".yml", compose=COMPOSE)
    pytester.makeini("[pytest]\nnetfence_compose_files = compose.yml\n")
    pytester.makepyfile(
        """
        import os, signal
        def test_dies(netfence_stack):
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = pytester.runpytest("-n", "1")
    assert result.ret == 1
    lines = fake.lines()
    [run_id] = fake.run_ids()
    # Its netfence saw the pipe close and tore down; the controller ran `down` as well.
    assert f"down {run_id}" in lines
    assert any(ln.startswith(f"torn down {run_id}") for ln in lines), lines
    result.stdout.fnmatch_lines(
        [f"netfence: run {run_id} was not torn down by its worker gw0 *netfence down --run-id*"]
    )


def test_no_session_files_are_left(pytester: pytest.Pytester, fake: Fake, tmp_path: Path) -> None:
    pytester.makefile(".yml", compose=COMPOSE)
    pytester.makeini("[pytest]\nnetfence_compose_files = compose.yml\n")
    pytester.makepyfile(
        """
        def test_one(netfence_session, netfence_stack):
            print("SESSION-DIR", netfence_session.session_dir)
        """
    )
    result = pytester.runpytest("-p", "no:xdist", "-s")
    result.assert_outcomes(passed=1)
    found = re.search(r"SESSION-DIR (\S+)", result.stdout.str())
    assert found
    assert not os.path.exists(found.group(1))


def test_logs_wait_and_profiles_are_passed_to_netfence(
    pytester: pytest.Pytester, fake: Fake
) -> None:
    pytester.makefile(".yml", compose=COMPOSE)
    pytester.makeini(
        """
        [pytest]
        netfence_compose_files = compose.yml
        netfence_logs = ci-logs
        netfence_wait = ports
        netfence_profiles =
            debug
            ops
        """
    )
    pytester.makepyfile("def test_one(netfence_stack):\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(passed=1)
    [run] = [ln for ln in fake.lines() if ln.startswith("run ")]
    [run_id] = fake.run_ids()
    # Each stack's logs in a directory of its own: workers never write one file.
    assert f"--logs {pytester.path / 'ci-logs' / run_id}" in run
    assert "--wait ports" in run
    assert "--profile debug --profile ops" in run
    result.stdout.fnmatch_lines(
        [f"netfence: container logs and final states: {pytester.path / 'ci-logs'}/<run id>/"]
    )


def test_command_line_overrides_logs_wait_and_profiles(
    pytester: pytest.Pytester, fake: Fake
) -> None:
    pytester.makefile(".yml", compose=COMPOSE)
    pytester.makeini(
        "[pytest]\nnetfence_compose_files = compose.yml\nnetfence_wait = ports\n"
        "netfence_profiles = debug\n"
    )
    pytester.makepyfile("def test_one(netfence_stack):\n    pass\n")
    result = pytester.runpytest(
        "-p",
        "no:xdist",
        "--netfence-logs=out",
        "--netfence-wait=running",
        "--netfence-profile=ops",
    )
    result.assert_outcomes(passed=1)
    [run] = [ln for ln in fake.lines() if ln.startswith("run ")]
    assert f"--logs {pytester.path / 'out'}/pyt-" in run
    assert "--wait running" in run
    assert "--profile ops" in run
    assert "debug" not in run


def test_bad_wait_is_a_configuration_error(pytester: pytest.Pytester, fake: Fake) -> None:
    pytester.makefile(".yml", compose=COMPOSE)
    pytester.makeini("[pytest]\nnetfence_compose_files = compose.yml\nnetfence_wait = soon\n")
    pytester.makepyfile("def test_one(netfence_stack):\n    pass\n")
    result = pytester.runpytest("-p", "no:xdist")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*netfence_wait: 'soon' is not one of ports, healthy, running*"])
    assert fake.lines() == []
