"""``spreadwatch serve`` in a child process, for tests, benchmarks and scripts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

URL = re.compile(r"(http://127\.0\.0\.1:\d+)/")


def launch(workspace: Path, *options: str, timeout: float = 60.0) -> tuple[subprocess.Popen, str]:
    """Start ``spreadwatch serve WORKSPACE --port 0 OPTIONS...`` on loopback; the process and
    its base URL once it listens (``RuntimeError`` with its output if it does not)."""
    command = [sys.executable, "-m", "spreadwatch", "serve", str(workspace), "--port", "0"]
    env = {**os.environ, "SPREADWATCH_QUIET": "1", "COLUMNS": "200"}
    process = subprocess.Popen(
        [*command, *options], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        found = URL.search(line)
        if found:
            return process, found.group(1)
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"spreadwatch serve did not start: {process.stdout.read()}")


def stop(process: subprocess.Popen) -> None:
    """Stop a launched server (SIGTERM, then SIGKILL after 15 s)."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
