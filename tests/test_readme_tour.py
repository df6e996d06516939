"""README's one-minute tour, run as written against a real `hub serve` (only the ports differ)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.config import Settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _tour() -> tuple[str, str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## One-minute tour") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the tour has a shell block"
    script = block.group(1)
    first, rest = script.split("# 2.", 1)
    return first, "# 2." + rest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port}")


def test_the_tour_works_as_written(settings: Settings, tmp_path: Path) -> None:
    http_port, mllp_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATA_DIR=str(settings.data_dir),
        HUB_DATABASE_URL=settings.database_url,
        HUB_BROKER_URL=settings.broker_url,
        HUB_TASK_QUEUE=settings.task_queue,
        HUB_HTTP_PORT=str(http_port),
        HUB_MLLP_PORT=str(mllp_port),
        # the hub of this tree, also where the venv's editable install points at another checkout
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    )
    venv_bin = str(Path(sys.executable).parent)

    def run(part: str) -> str:
        script = part.replace("127.0.0.1:8000", f"127.0.0.1:{http_port}").replace("2575", str(mllp_port))
        script = script.replace(".venv/bin/", venv_bin + "/")
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    with (tmp_path / "serve.log").open("wb") as log:
        hub = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--log-level", "warning"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for_port(mllp_port)
        _wait_for_port(http_port)
        first, rest = _tour()
        assert "MSA|AA|TOUR0001" in run(first)
        deadline = time.monotonic() + 60
        while True:  # a person reads the ACK; the test waits for the embedded worker instead
            out = run(rest)
            if '"total":1' in out or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert '"total":1' in out, out
        assert '"value":"MRN0001"' in out
        assert "TOUR0001" in out and "converted" in out  # `hub inbox`
    finally:
        os.killpg(hub.pid, signal.SIGKILL)
        hub.wait(timeout=30)
