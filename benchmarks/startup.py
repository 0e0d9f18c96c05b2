"""How long ``shelfscan serve`` takes to start (issue 17): the time to the first ``/healthz``
answer, to ``/readyz`` answering ``loading`` and to ``/readyz`` ready (the detection model
loaded in the background and run once), on a fresh SQLite database with the default model.

    taskset -c 1 .venv/bin/python benchmarks/startup.py --runs 3

Only 127.0.0.1 is contacted; the server is stopped after each run.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SHELFSCAN_CLI = str(Path(sys.executable).parent / "shelfscan")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_start(timeout: float) -> dict[str, float | str]:
    workdir = Path(tempfile.mkdtemp(prefix="shelfscan-start-"))
    port = free_port()
    env = {
        **os.environ,
        "SHELFSCAN_DATA_DIR": str(workdir / "data"),
        "SHELFSCAN_DATABASE_URL": f"sqlite:///{workdir / 'shelfscan.db'}",
        "SHELFSCAN_LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [SHELFSCAN_CLI, "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "serve.log").open("wb"),
    )
    marks: dict[str, float | str] = {}
    base = f"http://127.0.0.1:{port}"
    try:
        while time.perf_counter() - started < timeout:
            try:
                if "healthz" not in marks:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        marks["healthz"] = time.perf_counter() - started
                else:
                    answer = httpx.get(f"{base}/readyz", timeout=5)
                    status = answer.json().get("status", "")
                    if status == "loading" and "loading" not in marks:
                        marks["loading"] = time.perf_counter() - started
                    if answer.status_code == 200:
                        marks["ready"] = time.perf_counter() - started
                        model = (answer.json().get("checks") or {}).get("model") or {}
                        marks["model"] = str(model.get("detail", ""))
                        break
                    if status == "failed":
                        marks["failed"] = answer.text
                        break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    return marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    runs = []
    for _ in range(args.runs):
        marks = one_start(args.timeout)
        print({k: round(v, 2) if isinstance(v, float) else v for k, v in marks.items()})
        runs.append(marks)
    for key in ("healthz", "loading", "ready"):
        values = [float(r[key]) for r in runs if key in r]
        if values:
            print(f"first {key:<8} median {statistics.median(values):.2f} s  {values}")
    print(f"load average at end: {os.getloadavg()}")
    return 0 if all("ready" in r for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
