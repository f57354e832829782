"""The demo as a user runs it, and what a reader first waits for.

* ``demo_seconds``: ``spreadwatch demo`` with its defaults in a fresh process (warm
  environment), the whole loop from synthetic data to the brief (goal <= 240 on 2 cores).
  Beside it, ``demo_baseline_seconds``: the same process running only ``spreadwatch --help``
  (start-up cost, measured in the same run).
* ``report_mb``: size of the brief ``report.html`` (goal <= 3, small enough to e-mail).
* ``dashboard_first_paint_s``: from navigation to the first map drawn on the demo workspace,
  in Debian's Chromium driven by Playwright against ``spreadwatch serve`` (goal <= 2).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = Path(sys.executable).with_name("spreadwatch")


def _timed(args: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run([str(EXE), *args], check=True, capture_output=True, timeout=3600)
    return time.perf_counter() - began


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_paint(workspace: Path) -> float | None:
    """Seconds from navigating to the dashboard until its map has been drawn."""
    chromium = shutil.which("chromium")
    if chromium is None:
        print("chromium not found: no dashboard timing")
        return None
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = subprocess.Popen(
        [str(EXE), "serve", str(workspace), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        flags = [
            "--headless=new",
            "--no-sandbox",
            "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader",
            "--ignore-gpu-blocklist",
        ]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=flags)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url + "#/map")  # warm: fonts, plotly.js and the geometry cached
            page.wait_for_selector("#map[data-date]", timeout=60_000)
            times = []
            for _ in range(3):
                fresh = browser.new_page(viewport={"width": 1400, "height": 900})
                began = time.perf_counter()
                fresh.goto(url + "#/map")
                fresh.wait_for_selector("#map[data-date] svg path[fill]", timeout=60_000)
                times.append(time.perf_counter() - began)
                fresh.close()
            browser.close()
        print(f"dashboard first map paint: {', '.join(f'{t:.2f}' for t in times)} s")
        return round(sorted(times)[1], 2)
    finally:
        server.terminate()
        server.wait(timeout=30)


def run() -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "demo"
        key = Path(folder) / "pseudonym.key"
        figures["demo_baseline_seconds"] = round(_timed(["--help"]), 2)
        figures["demo_seconds"] = round(
            _timed(["demo", "--out", str(out), "--key-file", str(key)]), 1
        )
        figures["report_mb"] = round((out / "report.html").stat().st_size / 1e6, 2)
        paint = first_paint(out)
        if paint is not None:
            figures["dashboard_first_paint_s"] = paint
    return figures
