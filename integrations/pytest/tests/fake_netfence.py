"""A stand-in for the netfence binary, for the plugin's tests that need no engine.

``run``: logs its argv, then behaves as FAKE_NETFENCE_MODE says: ``ok`` (the default)
runs the command after ``--`` with NETFENCE_RUN_INFO naming a copy of
tests/data/run-info.json (run id replaced), waits for it (passing SIGTERM on) and logs
``torn down``; ``fail`` prints an error on stderr and exits 3; ``crash`` is ``ok`` but
exits 3 after the command, as netfence does when a service crashed meanwhile.
``down``: logs and exits 0. The log is FAKE_NETFENCE_LOG.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

DATA = Path(__file__).parent / "data" / "run-info.json"


def log(line: str) -> None:
    with open(os.environ["FAKE_NETFENCE_LOG"], "a", encoding="utf-8") as f:
        f.write(line + "\n")


def main(argv: list[str]) -> int:
    if argv[:1] == ["down"]:
        log("down " + argv[argv.index("--run-id") + 1])
        return 0
    if argv[:1] != ["run"]:
        print(f"fake netfence: unexpected {argv}", file=sys.stderr)
        return 2
    run_id = argv[argv.index("--run-id") + 1]
    log("run " + " ".join(argv[1 : argv.index("--")]))
    if os.environ.get("FAKE_NETFENCE_MODE") == "fail":
        print("netfence: run x: `docker compose up -d` failed:", file=sys.stderr)
        print("    boom: the fake engine says no", file=sys.stderr)
        return 3
    info = json.loads(DATA.read_text())
    old = info["run_id"]
    text = json.dumps(info).replace(old, run_id)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "run-info.json"
        path.write_text(text)
        cmd = argv[argv.index("--") + 1 :]
        child = subprocess.Popen(cmd, env={**os.environ, "NETFENCE_RUN_INFO": str(path)})
        # Like netfence: a SIGTERM is passed on to the command, then it tears down.
        signal.signal(signal.SIGTERM, lambda *_: child.terminate())
        status = child.wait()
    log(f"torn down {run_id} (command exited {status})")
    if os.environ.get("FAKE_NETFENCE_MODE") == "crash":
        print(f"netfence: run {run_id}: service `db` exited with status 1", file=sys.stderr)
        return 3
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
