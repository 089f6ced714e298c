"""A worker that dies mid-session (run with NETFENCE_EXAMPLE_CRASH=1 to see it).

The worker is killed with SIGKILL after its stack is up: no fixture tear-down runs. Its
`netfence run` sees its pipe close and tears the stack down; the xdist controller also
runs `netfence down` for the worker's run id at the end. Nothing is left either way.
"""

from __future__ import annotations

import os
import signal

import pytest

from pytest_netfence import RunInfo


@pytest.mark.skipif(
    os.environ.get("NETFENCE_EXAMPLE_CRASH") != "1", reason="set NETFENCE_EXAMPLE_CRASH=1"
)
def test_worker_dies(netfence_stack: RunInfo) -> None:
    assert netfence_stack.services
    os.kill(os.getpid(), signal.SIGKILL)
