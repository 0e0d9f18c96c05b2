"""Replay issue 19's hostile cases against a running ``shelfscan serve`` and print, per case,
the status(es), the time, the peak RSS (the server with its heavy-work processes, and the
server alone) and the worst ``/healthz`` latency meanwhile (polled from a separate process).

Starts its own server (SQLite in a temporary data directory, replay detector, in-process
worker) unless ``--url`` is given. Goals: no 5xx, no /healthz slower than 100 ms, peak RSS
under 1.5 GB, every heavy request refused or finished within its budget.

    .venv/bin/python benchmarks/hostile.py
    SHELFSCAN_HEAVY_MODE=thread .venv/bin/python benchmarks/hostile.py   # the in-thread mode
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hardening.big_planograms import overlapping_planogram, valid_planogram  # noqa: E402

MATCH = "/computervision/planogramcompliance:match?api-version=2023-04-01-preview"
RUN = "/computervision/productrecognition/ms-pretrained-product-detection/runs/{}"
NO_DETECTIONS = {"imageMetadata": {"width": 1000, "height": 600}, "products": []}


class Probe:
    """Polls /healthz every 20 ms and samples the server's RSS (with its worker processes')
    while a case runs, from a process of its own: in a thread of this one, the client's own
    work (encoding a big body) would hold the GIL and count as the server's latency."""

    def __init__(self, base_url: str, pid: int | None) -> None:
        self.base_url = base_url
        self.pid = pid
        self.worst = 0.0
        self.peak_rss = 0  # the server and its children (heavy-work processes)
        self.peak_server_rss = 0

    def __enter__(self) -> Probe:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._ready = context.Event()
        self._results = context.Queue()
        self._process = context.Process(
            target=_probe,
            args=(self.base_url, self.pid, self._stop, self._ready, self._results),
            daemon=True,
        )
        self._process.start()
        self._ready.wait(60)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.worst, self.peak_rss, self.peak_server_rss = self._results.get(timeout=120)
        self._process.join(30)


def _rss(process: psutil.Process | None) -> tuple[int, int]:
    """RSS of the server, and of the server with all its descendants."""
    if process is None:
        return 0, 0
    try:
        own = process.memory_info().rss
    except psutil.Error:
        return 0, 0
    total = own
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return own, total


def _probe(base_url: str, pid: int | None, stop: Any, ready: Any, results: Any) -> None:
    process = psutil.Process(pid) if pid else None
    worst = 0.0
    peak_total = peak_own = 0
    with httpx.Client(base_url=base_url, timeout=120) as client:
        client.get("/healthz")  # connected before the case starts
        ready.set()
        while not stop.is_set():
            own, total = _rss(process)
            peak_own, peak_total = max(peak_own, own), max(peak_total, total)
            started = time.perf_counter()
            with contextlib.suppress(httpx.HTTPError):
                client.get("/healthz")
            worst = max(worst, time.perf_counter() - started)
            time.sleep(0.02)
    results.put((worst, peak_total, peak_own))


def png_claiming(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (64, 64)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)


def jpeg_claiming(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def photo(seed: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (seed % 256, 90, 120)).save(buffer, "JPEG")
    return buffer.getvalue()


def sparse_xlsx() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet["A1"] = "x"
    sheet["XFD20000"] = "y"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def huge_head(base_url: str) -> str:
    host, port = base_url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
        )
        try:
            answer = connection.recv(64)
        except OSError as error:
            return f"closed ({error.__class__.__name__})"
    return answer.split(b"\r\n")[0].decode(errors="replace") or "closed"


def concurrent(client_factory: Callable[[], httpx.Client], send: Callable[..., Any]) -> str:
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def one() -> None:
        with client_factory() as client:
            client.get("/healthz")
            barrier.wait()
            statuses.append(send(client).status_code)

    threads = [threading.Thread(target=one) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return " ".join(f"{s}×{statuses.count(s)}" for s in sorted(set(statuses)))


def cases(client: httpx.Client, factory: Callable[[], httpx.Client]) -> list[tuple[str, Any]]:
    big_match = json.dumps(
        {"detectedProducts": NO_DETECTIONS, "planogram": valid_planogram(200, 100)}
    )
    over_limit = json.dumps(valid_planogram(1000, 100))
    overlapping_1000 = json.dumps(overlapping_planogram(1000))
    big_import = json.dumps(valid_planogram(200, 100, "big-import"))

    def read_after_write() -> str:
        misses = 0
        for index in range(30):
            client.post("/api/v1/stores/S001/bays", json={"code": f"R{index}"})
            misses += client.get(f"/api/v1/stores/S001/bays/R{index}").status_code != 200
        return f"{misses} misses of 30"

    def match(count: int) -> Callable[[], httpx.Response]:
        body = json.dumps(
            {"detectedProducts": NO_DETECTIONS, "planogram": overlapping_planogram(count)}
        )
        return lambda: client.post(
            MATCH, content=body, headers={"Content-Type": "application/json"}
        )

    def replayed_with_other_photo() -> str:
        key = {"Idempotency-Key": "hostile-1"}
        url = "/api/v1/stores/S001/bays/B1/scans"
        first = client.post(url, files=[("photos", ("a.jpg", photo(1), "image/jpeg"))], headers=key)
        second = client.post(
            url, files=[("photos", ("a.jpg", photo(2), "image/jpeg"))], headers=key
        )
        return f"{first.status_code} then {second.status_code}"

    return [
        ("1 read-after-write (30 × create bay, read)", read_after_write),
        (
            "2 10 concurrent POST /stores same code",
            lambda: concurrent(
                factory, lambda c: c.post("/api/v1/stores", json={"code": "RACE", "name": "r"})
            ),
        ),
        (
            "3 :match nested 10,000 deep",
            lambda: client.post(
                MATCH,
                content="[" * 10_000 + "]" * 10_000,
                headers={"Content-Type": "application/json"},
            ),
        ),
        (
            "3 import with a 5,000-digit integer",
            lambda: client.post(
                "/api/v1/planograms",
                content='{"id": "x", "width": ' + "9" * 5000 + "}",
                headers={"Content-Type": "application/json"},
            ),
        ),
        (
            "3 :validate with 1e400",
            lambda: client.post(
                "/api/v1/planograms:validate",
                content=json.dumps(valid_planogram(1, 2)).replace(
                    '"width": 20.0', '"width": 1e400'
                ),
                headers={"Content-Type": "application/json"},
            ),
        ),
        (
            "3 GET planogram ?version=2**63",
            lambda: client.get(f"/api/v1/planograms/small?version={2**63}"),
        ),
        (
            "3 assignment version 10**30",
            lambda: client.post(
                "/api/v1/stores/S001/bays/B1/assignments",
                content='{"planogram": "small", "version": '
                + str(10**30)
                + ', "effective_from": "2024-01-01"}',
                headers={"Content-Type": "application/json"},
            ),
        ),
        ("4 :match 1,000 overlapping positions", match(1000)),
        ("4 :match 2,000 overlapping positions", match(2000)),
        ("4 :match 4,000 overlapping positions", match(4000)),
        (
            "4 :match 20,000 valid positions",
            lambda: client.post(
                MATCH, content=big_match, headers={"Content-Type": "application/json"}
            ),
        ),
        (
            "4 import 20,000 valid positions",
            lambda: client.post(
                "/api/v1/planograms",
                content=big_import,
                headers={"Content-Type": "application/json"},
            ),
        ),
        (
            "4 import 100,000 positions (over the limit)",
            lambda: client.post(
                "/api/v1/planograms",
                content=over_limit,
                headers={"Content-Type": "application/json"},
            ),
        ),
        (
            "4 sparse XLSX (A1, XFD20000)",
            lambda: client.post(
                "/api/v1/planograms?format=xlsx&id=sparse",
                files={"file": ("s.xlsx", sparse_xlsx())},
            ),
        ),
        (
            "5 :validate 1,000 overlapping (answer size)",
            lambda: (lambda r: f"{r.status_code}, {len(r.content):,} bytes")(
                client.post(
                    "/api/v1/planograms:validate",
                    content=overlapping_1000,
                    headers={"Content-Type": "application/json"},
                )
            ),
        ),
        (
            "6 Azure PUT 15,999² PNG of a few KB",
            lambda: client.put(
                RUN.format("png"),
                params={"api-version": "2023-04-01-preview"},
                content=png_claiming(15_999, 15_999),
                headers={"Content-Type": "application/octet-stream"},
            ),
        ),
        (
            "6 Azure PUT JPEG header claiming 15,000²",
            lambda: client.put(
                RUN.format("jpeg"),
                params={"api-version": "2023-04-01-preview"},
                content=jpeg_claiming(15_000, 15_000),
                headers={"Content-Type": "image/jpeg"},
            ),
        ),
        ("7 Idempotency-Key reused, other photo", replayed_with_other_photo),
        ("8 1 MB request head", lambda: huge_head(str(client.base_url).rstrip("/"))),
    ]


def start_server(data_dir: Path, port: int) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    env = {
        **os.environ,
        "SHELFSCAN_DATA_DIR": str(data_dir),
        "SHELFSCAN_DETECTOR_BACKEND": "replay",
        "SHELFSCAN_LOG_LEVEL": "WARNING",
        "SHELFSCAN_LOAD_MODEL_ON_START": "false",
    }
    headers: dict[str, str] = {}
    sys.path.insert(0, str(ROOT))
    os.environ.update({k: v for k, v in env.items() if k.startswith("SHELFSCAN_")})
    from shelfscan.db.migrate import upgrade
    from shelfscan.settings import Settings

    settings = Settings(_env_file=None, data_dir=data_dir)
    upgrade(settings.resolved_database_url)
    try:
        from shelfscan.auth.roles import Grant, Role, ScopeKind
        from shelfscan.auth.service import create_api_key
        from shelfscan.db.session import session_scope

        with session_scope(settings.resolved_database_url) as session:
            _, secret = create_api_key(
                session, "hostile benchmark", Grant(Role.ADMIN, ScopeKind.CHAIN), actor="bench"
            )
        headers["Authorization"] = f"Bearer {secret}"
    except ImportError:
        pass
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/shelfscan"), "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            # Ready: the model is loaded (in the analysis process), as for a running service.
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return server, headers
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="shelfscan-hostile-") as folder:
        server, headers = start_server(Path(folder), args.port)
        base_url = f"http://127.0.0.1:{args.port}"
        try:
            factory = lambda: httpx.Client(base_url=base_url, timeout=300, headers=headers)  # noqa: E731
            with factory() as client:
                client.post("/api/v1/stores", json={"code": "S001", "name": "Main"})
                client.post("/api/v1/stores/S001/bays", json={"code": "B1"})
                client.post("/api/v1/planograms", json=valid_planogram(1, 2, "small"))
                client.post(
                    "/api/v1/stores/S001/bays/B1/assignments",
                    json={"planogram": "small", "effective_from": "2020-01-01"},
                )
                print(f"heavy work: {os.environ.get('SHELFSCAN_HEAVY_MODE', 'process')}")
                print(
                    f"{'case':<48} {'status':<22} {'time s':>7} {'peak RSS MB':>11} "
                    f"{'server MB':>9} {'worst /healthz ms':>18}"
                )
                for name, run in cases(client, factory):
                    with Probe(base_url, server.pid) as probe:
                        started = time.perf_counter()
                        try:
                            outcome = run()
                        except httpx.HTTPError as error:
                            outcome = f"client error: {error.__class__.__name__}"
                        elapsed = time.perf_counter() - started
                        time.sleep(0.05)
                    status = outcome.status_code if isinstance(outcome, httpx.Response) else outcome
                    print(
                        f"{name:<48} {status!s:<22} {elapsed:>7.2f} "
                        f"{probe.peak_rss / 2**20:>11.0f} {probe.peak_server_rss / 2**20:>9.0f} "
                        f"{probe.worst * 1000:>18.1f}",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
