"""Load test for phone uploads: many concurrent 12 MP photo uploads against a real server.

Starts ``uvicorn`` on 127.0.0.1 as a subprocess (and, for the Celery configuration, a
``shelfscan worker``), seeds a store with the demo cereal bay, uploads N distinct real-sized
JPEG photos (≈3–4 MB, 4032×3024, generated here) all at once, each on its own connection,
measures the time to each 202 answer, re-sends some with the same Idempotency-Key as a phone's
retry would, then waits until every scan is done and checks that none was lost or duplicated.

The load generator shares the machine's cores with the server, so by default it sends
prepared HTTP/1.1 requests on plain asyncio sockets (``--client raw``, ≈2 ms of CPU per upload);
``--client httpx`` uses httpx instead. ``--no-worker`` (PostgreSQL only) starts no Celery
worker, to measure the accept path alone. The CPU both sides used is printed too.

    python benchmarks/load_uploads.py --config sqlite     # SQLite + in-process worker
    python benchmarks/load_uploads.py --bursts 3          # the ratio's median over 3 bursts
    python benchmarks/load_uploads.py --config postgres   # PostgreSQL + Redis + Celery worker
    SHELFSCAN_UPLOAD_VALIDATION=full python benchmarks/load_uploads.py   # decode in the request

The analysis uses the real pipeline with the replay detector (the render's exact boxes), so
the numbers measure shelfscan, not a model. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from fastapi import File, UploadFile  # the bare endpoint's annotations (resolved by name)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

STORE, BAY = "LOAD-001", "cereal"
POSTGRES_ADMIN = os.environ.get(
    "SHELFSCAN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS = os.environ.get("SHELFSCAN_LOAD_REDIS", "redis://127.0.0.1:6379/12")


@dataclass
class Upload:
    key: str
    seconds: float
    status: int
    scan_id: str | None
    created: bool | None


def make_photos(count: int, workdir: Path) -> tuple[list[bytes], Path]:
    """``count`` distinct 12 MP JPEGs of the demo cereal bay, and matching replay detections."""
    import numpy as np
    from PIL import Image, ImageDraw

    from shelfscan.detection.replay import detections_to_document
    from shelfscan.planogram.model import Planogram
    from shelfscan.synth.scene import SceneConfig, ShelfRenderer

    planogram = Planogram.model_validate_json(
        (REPO / "planograms" / "demo-store" / "cereal.json").read_text()
    )
    config = SceneConfig(**{**SceneConfig.clean(1600).__dict__, "gap_rate": 0.1})
    scene = ShelfRenderer([planogram], config=config).render(np.random.default_rng(3), planogram)
    (workdir / "detections.json").write_text(
        json.dumps(detections_to_document(scene.truth_detections()))
    )
    scale = 4032 / max(scene.image.size)
    size = (round(scene.image.width * scale), round(scene.image.height * scale))
    base = scene.image.convert("RGB").resize(size, Image.Resampling.BICUBIC)
    rng = np.random.default_rng(0)
    noisy = np.asarray(base, dtype=np.int16) + rng.normal(0, 9, (size[1], size[0], 3)).astype(
        np.int16
    )
    base = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    photos = []
    for index in range(count):
        image = base.copy()
        ImageDraw.Draw(image).text((20, 20), f"photo {index}", fill=(255, 255, 255))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=92)
        photos.append(out.getvalue())
    return photos, workdir / "detections.json"


def own_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process itself (its threads), without child processes."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:13]) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants, running or finished
    (Linux /proc): the web server's share of the machine while the uploads arrive."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except OSError:
        return 0.0
    own = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) for child in children)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seed(database_url: str) -> None:
    from shelfscan.db.migrate import upgrade
    from shelfscan.db.session import session_scope
    from shelfscan.planogram.model import Planogram
    from shelfscan.planogram_store import (
        assign_planogram,
        create_bay,
        create_store,
        publish_planogram,
    )

    upgrade(database_url)
    planogram = Planogram.model_validate_json(
        (REPO / "planograms" / "demo-store" / "cereal.json").read_text()
    )
    with session_scope(database_url) as session:
        store = create_store(session, STORE, "Load test store", "Lab")
        bay = create_bay(session, store, BAY, "Cereal")
        version = publish_planogram(session, planogram)
        assign_planogram(session, bay, version, date.today() - timedelta(days=1))


def make_app():  # type: ignore[no-untyped-def]
    """The app with the scan routes (uvicorn factory, so several worker processes can run)."""
    from shelfscan.api.app import create_app
    from shelfscan.api.routes import scans, web

    app = create_app()
    paths = {getattr(route, "path", None) for route in app.routes}
    for router, probe in ((web.router, "/"), (scans.router, "/api/v1/stores/{store_code}/scans")):
        if probe not in paths:
            app.include_router(router)
    return app


def make_bare_app():  # type: ignore[no-untyped-def]
    """The yardstick: a bare FastAPI endpoint at the same path that only reads the body
    (multipart parsed by the framework, the photo read to its end) and answers 202."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/stores/{store_code}/bays/{bay_code}/scans", status_code=202)
    async def upload(
        store_code: str, bay_code: str, photos: list[UploadFile] = File(...)
    ) -> dict[str, str]:
        size = 0
        for photo in photos:
            size += len(await photo.read())
        return {"id": uuid.uuid4().hex, "bytes": str(size)}

    return app


def serve(host: str, port: int, workers: int, bare: bool = False) -> None:
    """Subprocess entry: the app under uvicorn, with ``workers`` processes."""
    import uvicorn

    uvicorn.run(
        "benchmarks.load_uploads:make_bare_app" if bare else "benchmarks.load_uploads:make_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


SHELFSCAN_CLI = str(Path(sys.executable).parent / "shelfscan")
# Access control needs credentials: an API key made with ``shelfscan apikey create``.
API_KEY = {"secret": ""}


def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY['secret']}"}


def multipart_request(host: str, port: int, path: str, key: str, photo: bytes) -> bytes:
    """One complete HTTP/1.1 request, as a phone's multipart upload puts it on the wire."""
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="photos"; filename="shelf.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body = head + photo + f"\r\n--{boundary}--\r\n".encode()
    headers = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\nIdempotency-Key: {key}\r\n"
        f"Authorization: Bearer {API_KEY['secret']}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return headers + body


async def send_raw(host: str, port: int, request: bytes, key: str) -> Upload:
    """Send a prepared request on its own connection and time it to the full answer.

    The load generator shares the machine's two cores with the server, so it does as little
    work as it can while the clock runs: the request bytes are built beforehand and written
    in one go; the answer is read to the end of its body (``Connection: close``).
    """
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    elapsed = time.perf_counter() - started
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    document = json.loads(body) if body.startswith(b"{") else {}
    return Upload(key, elapsed, status, document.get("id"), document.get("created"))


async def run_load_raw(base: str, photos: list[bytes], retries: int) -> tuple[list[Upload], float]:
    host, port = base.removeprefix("http://").split(":")
    path = f"/api/v1/stores/{STORE}/bays/{BAY}/scans"
    keys = [uuid.uuid4().hex for _ in photos]
    requests = [
        multipart_request(host, int(port), path, key, photo)
        for key, photo in zip(keys, photos, strict=True)
    ]
    started = time.perf_counter()
    uploads = await asyncio.gather(
        *(
            send_raw(host, int(port), request, key)
            for request, key in zip(requests, keys, strict=True)
        )
    )
    wall = time.perf_counter() - started
    replays = await asyncio.gather(
        *(send_raw(host, int(port), requests[i], keys[i]) for i in range(min(retries, len(photos))))
    )
    return list(uploads) + list(replays), wall


async def run_load(base: str, photos: list[bytes], retries: int) -> tuple[list[Upload], float]:
    import httpx

    url = f"{base}/api/v1/stores/{STORE}/bays/{BAY}/scans"
    keys = [uuid.uuid4().hex for _ in photos]

    async def send(client: httpx.AsyncClient, key: str, photo: bytes) -> Upload:
        started = time.perf_counter()
        response = await client.post(
            url,
            files={"photos": ("shelf.jpg", photo, "image/jpeg")},
            headers={"Idempotency-Key": key, **auth_headers()},
        )
        elapsed = time.perf_counter() - started
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        return Upload(key, elapsed, response.status_code, body.get("id"), body.get("created"))

    limits = httpx.Limits(max_connections=len(photos) + retries)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        started = time.perf_counter()
        uploads = await asyncio.gather(
            *(send(client, key, photo) for key, photo in zip(keys, photos, strict=True))
        )
        wall = time.perf_counter() - started
        # A phone that never saw the answer retries with the same key.
        replays = await asyncio.gather(
            *(send(client, keys[i], photos[i]) for i in range(min(retries, len(photos))))
        )
    return list(uploads) + list(replays), wall


async def wait_done(base: str, expected: int, timeout: float) -> tuple[dict[str, int], float, int]:
    import httpx

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30, headers=auth_headers()) as client:
        while True:
            listing = (
                await client.get(f"{base}/api/v1/stores/{STORE}/scans", params={"limit": 500})
            ).json()
            counts: dict[str, int] = {}
            for scan in listing["scans"]:
                counts[scan["status"]] = counts.get(scan["status"], 0) + 1
            finished = counts.get("done", 0) + counts.get("failed", 0)
            if finished >= expected or time.perf_counter() - started > timeout:
                return counts, time.perf_counter() - started, listing["total"]
            await asyncio.sleep(0.5)


def peak_rss_mb(pid: int) -> float:
    """The peak resident memory of a process and its children (``VmHWM``), in MB."""
    total = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(peak_rss_mb(int(child)) for child in children)


def measure_bare(
    photos: list[bytes], web_workers: int, env: dict[str, str], workdir: Path, bursts: int = 1
) -> tuple[list[list[float]], float]:
    """The same uploads against the bare endpoint (``make_bare_app``): its times to 202 (per
    burst) and its server CPU, the yardstick of the shelfscan numbers measured right after."""
    import httpx

    port = free_port()
    command = [sys.executable, __file__, "--serve", "--bare", "--port", str(port)]
    command += ["--web-workers", str(web_workers)]
    process = subprocess.Popen(command, env=env, cwd=workdir, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("bare server did not start")
            time.sleep(0.2)
        cpu = cpu_seconds(process.pid)
        times = []
        for _ in range(bursts):
            uploads, _ = asyncio.run(run_load_raw(base, photos, 0))
            times.append([u.seconds * 1000 for u in uploads])
        cpu = cpu_seconds(process.pid) - cpu
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    return times, cpu


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def repeat(times: int) -> int:
    """The benchmark run ``times`` times as it was called (less ``--repeat``), each run's
    figures on one line, then their medians; exit status 0 when the medians meet the goals."""
    forwarded = []
    skip = False
    for argument in sys.argv[1:]:
        if skip:
            skip = False
        elif argument == "--repeat":
            skip = True
        elif not argument.startswith("--repeat="):
            forwarded.append(argument)
    results = []
    for run in range(1, times + 1):
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "result.json"
            completed = subprocess.run(
                [sys.executable, __file__, *forwarded, "--result-json", str(out)],
                capture_output=True,
                text=True,
                check=False,
            )
            if not out.exists():
                print(completed.stdout[-2000:], completed.stderr[-2000:], sep="\n")
                raise RuntimeError(f"run {run} ended without its figures")
            result = json.loads(out.read_text())
        results.append(result)
        median_burst = result["median_burst_ratio"]
        print(
            f"run {run}/{times}: p95 ratio first burst {result['first_burst_ratio']:.2f}"
            + (f", median of bursts {median_burst:.2f}" if median_burst is not None else "")
            + f"; web CPU {result['web_cpu_ms']:.0f} ms per upload"
            + (f" (bare {result['bare_cpu_ms']:.0f})" if result["bare_cpu_ms"] else "")
            + f"; peak RSS {result['peak_rss_mb']:.0f} MB; {'PASS' if result['ok'] else 'FAIL'}",
            flush=True,
        )

    def median_of(key: str) -> float:
        return statistics.median(r[key] for r in results if r[key] is not None)

    key = "median_burst_ratio"
    if results[0][key] is None:
        key = "first_burst_ratio"
    spread = [r[key] for r in results]
    print(
        f"over {times} runs: p95 ratio ({key.replace('_', ' ')}) median {median_of(key):.2f} "
        f"(min {min(spread):.2f}, max {max(spread):.2f}; goal ≤ 1.5); web CPU per upload "
        f"median {median_of('web_cpu_ms'):.0f} ms; peak RSS max "
        f"{max(r['peak_rss_mb'] for r in results):.0f} MB (goal ≤ 1536 MB)"
    )
    ok = all(r["nothing_lost"] for r in results) and median_of(key) <= 1.5
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--retries", type=int, default=10, help="Uploads re-sent with their key")
    parser.add_argument(
        "--bursts",
        type=int,
        default=1,
        help="Bursts of --uploads each, against both servers (the ratio moves with the machine's "
        "load; with several, the median of the per-burst ratios is printed too)",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="Scans analysed at once")
    parser.add_argument("--timeout", type=float, default=480, help="Seconds to wait for done")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="raw: prepared HTTP/1.1 requests on asyncio sockets (least client CPU); httpx",
    )
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="postgres only: start no Celery worker (the accept path alone; scans stay queued)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="Run the whole benchmark this many times, one after another (fresh servers each "
        "time), and print each run's ratios and their median: on a shared 2-core machine one "
        "run's ratio moves by ±15 %% from run to run",
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="Send the first burst as soon as /readyz says ready, before the server has made "
        "its spare files (by default the benchmark waits for them, up to 60 s: a server that "
        "has been running a while has them)",
    )
    parser.add_argument("--result-json", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-bare",
        action="store_true",
        help="Skip the bare FastAPI endpoint measured first as the yardstick",
    )
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--web-workers", type=int, default=1, help="uvicorn worker processes for the web server"
    )
    args = parser.parse_args()
    if args.serve:
        serve("127.0.0.1", args.port, args.web_workers, bare=args.bare)
        return 0
    if args.repeat > 1:
        return repeat(args.repeat)

    workdir = Path(tempfile.mkdtemp(prefix="shelfscan-load-"))
    started = time.perf_counter()
    photos, replay = make_photos(args.uploads, workdir)
    sizes = [len(p) / 2**20 for p in photos]
    print(
        f"{len(photos)} photos 4032x3024, {min(sizes):.1f}–{max(sizes):.1f} MB "
        f"(made in {time.perf_counter() - started:.1f} s)"
    )

    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SHELFSCAN_DATA_DIR": str(workdir / "data"),
        "SHELFSCAN_DETECTOR_BACKEND": "replay",
        "SHELFSCAN_REPLAY_PATH": str(replay),
        "SHELFSCAN_WORKER_CONCURRENCY": str(args.concurrency),
        "SHELFSCAN_SCAN_DEADLINE_S": str(args.timeout + 60),
        "SHELFSCAN_LOG_LEVEL": "WARNING",
    }
    admin_engine = database = None
    if args.config == "postgres":
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        database = f"shelfscan_load_{uuid.uuid4().hex[:8]}"
        admin_engine = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
        env["SHELFSCAN_DATABASE_URL"] = (
            make_url(POSTGRES_ADMIN).set(database=database).render_as_string(hide_password=False)
        )
        env["SHELFSCAN_BROKER_URL"] = REDIS
        env["SHELFSCAN_SCAN_QUEUE"] = f"shelfscan-load-{uuid.uuid4().hex[:8]}"
    else:
        env["SHELFSCAN_DATABASE_URL"] = f"sqlite:///{workdir / 'shelfscan.db'}"
    seed(env["SHELFSCAN_DATABASE_URL"])
    created = subprocess.run(
        [SHELFSCAN_CLI, "apikey", "create", "--role", "admin", "--name", "load test"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    API_KEY["secret"] = created.stdout.strip().splitlines()[-1]
    bare_bursts: list[list[float]] = []
    bare_cpu = 0.0
    if not args.no_bare:
        bare_bursts, bare_cpu = measure_bare(
            photos, args.web_workers, env, workdir, bursts=args.bursts
        )
    bare_latencies = bare_bursts[0] if bare_bursts else []

    port = free_port()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                "--port",
                str(port),
                "--web-workers",
                str(args.web_workers),
            ],
            env=env,
            cwd=workdir,
            start_new_session=True,
        )
    ]
    if args.config == "postgres" and not args.no_worker:
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "shelfscan.cli.worker", "--loglevel", "WARNING"],
                env=env,
                cwd=workdir,
                start_new_session=True,
                stdout=(workdir / "worker.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                # Ready (the analysis process has its model), as a running service is.
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)

        # A server that has been up a while has its spare files (``storage/spares.py``) made;
        # one started a moment ago is still making them, and its first photos get new files.
        from shelfscan.settings import Settings
        from shelfscan.storage.spares import FOLDER

        server_settings = Settings(data_dir=workdir / "data")
        spare_folder = server_settings.resolved_storage_dir / FOLDER
        spares_wanted = server_settings.storage_spare_files

        def spares_made() -> int:  # not the ones being written (``.making-*``)
            return len(list(spare_folder.glob("[!.]*")))

        waited = time.monotonic()
        while not args.cold and spares_made() < spares_wanted and time.monotonic() - waited < 60:
            time.sleep(0.2)
        spares_ready = spares_made()
        spares_waited = time.monotonic() - waited

        load = run_load_raw if args.client == "raw" else run_load
        server_cpu = cpu_seconds(processes[0].pid)
        web_cpu = own_cpu_seconds(processes[0].pid)
        client_cpu = time.process_time()
        uploads, wall = asyncio.run(load(base, photos, args.retries))
        server_cpu = cpu_seconds(processes[0].pid) - server_cpu
        web_cpu = own_cpu_seconds(processes[0].pid) - web_cpu
        client_cpu = time.process_time() - client_cpu
        peak_rss = peak_rss_mb(processes[0].pid)
        first = uploads[: len(photos)]
        replays = uploads[len(photos) :]
        accepted = [u for u in first if u.status == 202]
        ids = {u.scan_id for u in accepted}
        later_bursts: list[list[float]] = []
        for _ in range(args.bursts - 1):  # new keys: new scans, with the first still analysed
            more, _ = asyncio.run(load(base, photos, 0))
            later_bursts.append([u.seconds * 1000 for u in more])
            ids |= {u.scan_id for u in more if u.status == 202}
        replay_ok = all(
            r.status == 202 and r.created is False and r.scan_id == first[i].scan_id
            for i, r in enumerate(replays)
        )
        latencies = [u.seconds * 1000 for u in first]
        counts, drain, total = asyncio.run(
            wait_done(base, len(ids), 0 if args.no_worker else args.timeout * args.bursts)
        )
        peak_rss = max(peak_rss, peak_rss_mb(processes[0].pid))
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if admin_engine is not None:
            from sqlalchemy import text

            with admin_engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))

    configuration = (
        "SQLite + in-process worker"
        if args.config == "sqlite"
        else "PostgreSQL + Redis + Celery worker"
    )
    ratio = (
        percentile(latencies, 0.95) / percentile(bare_latencies, 0.95) if bare_latencies else 0.0
    )
    burst_ratios = [
        percentile(ours, 0.95) / percentile(theirs, 0.95)
        for ours, theirs in zip([latencies, *later_bursts], bare_bursts, strict=False)
    ]
    expected = len(photos) * args.bursts
    rows = [
        ("configuration", configuration),
        ("CPU cores", str(os.cpu_count())),
        ("upload validation", env.get("SHELFSCAN_UPLOAD_VALIDATION") or "fast (default)"),
        ("web worker processes", str(args.web_workers)),
        (
            "spare files at the first burst",
            f"{spares_ready} of {spares_wanted} "
            + ("(--cold: not waited for)" if args.cold else f"(waited {spares_waited:.1f} s)"),
        ),
        ("uploads (concurrent)", f"{len(first)} ({len(accepted)} answered 202)"),
        (
            "time to 202 p50 / p95 / max",
            f"{statistics.median(latencies):.0f} / "
            f"{percentile(latencies, 0.95):.0f} / {max(latencies):.0f} ms",
        ),
        ("all 202 answers within", f"{wall:.2f} s"),
        *(
            [
                (
                    "bare endpoint p50 / p95",
                    f"{statistics.median(bare_latencies):.0f} / "
                    f"{percentile(bare_latencies, 0.95):.0f} ms "
                    f"(CPU {bare_cpu / sum(map(len, bare_bursts)) * 1000:.0f} ms per request)",
                ),
                (
                    "p95 ratio shelfscan / bare",
                    f"{ratio:.2f} (goal ≤ 1.5)",
                ),
            ]
            if bare_latencies
            else []
        ),
        (
            "server CPU per accepted upload",
            f"{web_cpu / max(1, len(accepted)) * 1000:.0f} ms in the web process "
            f"({server_cpu / max(1, len(accepted)) * 1000:.0f} ms with its child processes: "
            "the analysis running meanwhile)",
        ),
        ("server peak RSS (VmHWM)", f"{peak_rss:.0f} MB (goal ≤ 1536 MB)"),
        (
            "CPU during the uploads",
            f"web server {server_cpu:.2f} s ({server_cpu / len(uploads) * 1000:.0f} ms per "
            f"request), load generator {client_cpu:.2f} s",
        ),
        *(
            [
                (
                    f"p95 per burst ({args.bursts})",
                    "shelfscan / bare: "
                    + ", ".join(
                        f"{percentile(ours, 0.95):.0f} / {percentile(theirs, 0.95):.0f} ms"
                        for ours, theirs in zip(
                            [latencies, *later_bursts], bare_bursts, strict=True
                        )
                    ),
                ),
                ("p95 ratio, median of the bursts", f"{statistics.median(burst_ratios):.2f}"),
            ]
            if len(burst_ratios) > 1
            else []
        ),
        ("idempotent retries", f"{len(replays)} re-sent, same scan: {replay_ok}"),
        ("distinct scans / listed", f"{len(ids)} / {total}"),
        ("lost / duplicated", f"{expected - len(ids)} / {total - len(ids)}"),
        ("final status", ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))),
        ("all done after the uploads", f"{drain:.1f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    nothing_lost = (
        len(ids) == expected == total
        and replay_ok
        and counts.get("done", 0) == expected
        and peak_rss <= 1536
    )
    ok = nothing_lost and (not burst_ratios or statistics.median(burst_ratios) <= 1.5)
    if args.result_json is not None:
        args.result_json.write_text(
            json.dumps(
                {
                    "first_burst_ratio": ratio,
                    "median_burst_ratio": statistics.median(burst_ratios) if burst_ratios else None,
                    "web_cpu_ms": web_cpu / max(1, len(accepted)) * 1000,
                    "bare_cpu_ms": bare_cpu / sum(map(len, bare_bursts)) * 1000
                    if bare_bursts
                    else None,
                    "peak_rss_mb": peak_rss,
                    "nothing_lost": nothing_lost,
                    "ok": ok,
                }
            )
        )
    print(
        "PASS"
        if ok
        else "FAIL (goal: none lost or duplicated, all done, p95 ≤ 1.5× the bare endpoint's, "
        "peak RSS ≤ 1.5 GB)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
