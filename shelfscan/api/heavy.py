"""A bounded pool for CPU-heavy request work, with a time budget per request.

Planogram import and validation and ``:match`` parse, validate and match inside one request. In
threads of the server process they hold the GIL (1,000 overlapping positions kept ``/healthz``
waiting 464 ms, a 20,000-position ``:match`` 618 ms), so by default they run in worker
**processes** (``SHELFSCAN_HEAVY_MODE=process``):

* ``SHELFSCAN_HEAVY_WORKERS`` slots, each a one-process ``ProcessPoolExecutor`` (``spawn``:
  a fresh interpreter that imports only the pure core), started and warmed when the app starts
  so that the first request does not pay for interpreters and imports;
* one process per slot, so that a request over its time budget can really be abandoned: its
  process is terminated and the slot starts a new one (a thread cannot be stopped);
* a process that dies (killed for memory, a crash) breaks only its slot: the request answers
  503 and the slot starts a new process;
* tasks take plain values and give JSON-ready values or encoded JSON
  (:mod:`shelfscan.api.heavy_tasks`), so little is pickled either way; the database stays in
  the server process.

``SHELFSCAN_HEAVY_MODE=thread`` keeps the work in threads of the server process (where extra
processes are not wanted); over budget, the work is abandoned but its thread runs on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from shelfscan.api import heavy_tasks
from shelfscan.services.errors import Unavailable

log = logging.getLogger(__name__)

PROCESS = "process"
THREAD = "thread"


class _Slot:
    """One worker process (a one-process executor), replaced when it dies or overruns."""

    def __init__(self) -> None:
        self.executor, self.warmed = self._start()

    @staticmethod
    def _start() -> tuple[ProcessPoolExecutor, Future]:
        executor = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=heavy_tasks.ignore_interrupts,
        )
        # Started now, in the background: the interpreter, the core's imports and a tiny match.
        return executor, executor.submit(heavy_tasks.warm)

    def submit(self, work: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any]) -> Future:
        return self.executor.submit(heavy_tasks.call, work, args, kw)

    def replace(self) -> None:
        """Stop this slot's process (whatever it is doing) and start a new one."""
        old = self.executor
        self.executor, self.warmed = self._start()
        _terminate(old)

    def shutdown(self) -> None:
        _terminate(self.executor)


def _terminate(executor: ProcessPoolExecutor) -> None:
    processes = list(_processes(executor).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    # Reap them off the event loop; a terminated process ends at once, a stuck one is killed.
    threading.Thread(target=_reap, args=(processes,), name="heavy-reaper", daemon=True).start()


def _processes(executor: ProcessPoolExecutor) -> dict[int, Any]:
    """The executor's processes by id (``_processes``: the standard library has no public
    way to reach them before Python 3.14's ``terminate_workers``)."""
    return dict(getattr(executor, "_processes", None) or {})


def _reap(processes: list[Any]) -> None:
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)


class HeavyWork:
    """Run heavy request work off the event loop: at most ``workers`` at once, ``queued`` more
    waiting (beyond that 503 ``busy``), each within ``budget_s`` (else 503
    ``time_budget_exceeded``)."""

    def __init__(self, workers: int, queued: int, budget_s: float, mode: str = PROCESS) -> None:
        if mode not in (PROCESS, THREAD):
            raise ValueError(f"heavy work mode must be {PROCESS!r} or {THREAD!r}, not {mode!r}")
        self.workers = workers
        self.capacity = workers + queued
        self.budget_s = budget_s
        self.mode = mode
        self._lock = threading.Lock()
        self._in_flight = 0
        self._threads: ThreadPoolExecutor | None = None
        self._slots: list[_Slot] = []
        self._idle: asyncio.Queue[_Slot] | None = None
        if mode == THREAD:
            self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="heavy")
        else:
            self._slots = [_Slot() for _ in range(workers)]

    def starting(self) -> int:
        """How many worker processes are still starting (interpreter, imports, a first match):
        ``/readyz`` says ``loading`` meanwhile, as the start-up CPU is the server's own."""
        return sum(1 for slot in self._slots if not slot.warmed.done())

    def worker_pids(self) -> list[int]:
        """The worker processes' ids (process mode; for tests and the benchmark)."""
        return [pid for slot in self._slots for pid in _processes(slot.executor)]

    async def run(self, what: str, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``work(*args, **kwargs)`` (a function of :mod:`shelfscan.api.heavy_tasks`) off the
        event loop; its refusals are raised here as the exceptions they were."""
        with self._lock:
            if self._in_flight >= self.capacity:
                raise Unavailable(
                    "busy",
                    f"the server is busy with {self._in_flight} heavy requests (at most "
                    f"{self.capacity}, SHELFSCAN_HEAVY_WORKERS + SHELFSCAN_HEAVY_QUEUE); "
                    "retry shortly",
                )
            self._in_flight += 1
        try:
            deadline = asyncio.get_running_loop().time() + self.budget_s
            if self._threads is not None:
                outcome = await self._in_thread(what, work, args, kwargs)
            else:
                outcome = await self._in_process(what, work, args, kwargs, deadline)
        finally:
            with self._lock:
                self._in_flight -= 1
        return heavy_tasks.raise_for(outcome)

    async def _in_thread(
        self, what: str, work: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any]
    ) -> heavy_tasks.Outcome:
        assert self._threads is not None
        future = self._threads.submit(heavy_tasks.call, work, args, kw)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.budget_s)
        except TimeoutError:
            future.cancel()  # still queued: never starts; running: its result is dropped
            raise self._over_budget(what) from None

    async def _in_process(
        self,
        what: str,
        work: Callable[..., Any],
        args: tuple[Any, ...],
        kw: dict[str, Any],
        deadline: float,
    ) -> heavy_tasks.Outcome:
        loop = asyncio.get_running_loop()
        if self._idle is None:  # made on the serving loop
            self._idle = asyncio.Queue()
            for slot in self._slots:
                self._idle.put_nowait(slot)
        try:
            slot = await asyncio.wait_for(self._idle.get(), max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise self._over_budget(what) from None
        try:
            try:
                future = slot.submit(work, args, kw)
            except BrokenProcessPool:
                slot.replace()
                future = slot.submit(work, args, kw)
            wrapped = asyncio.wrap_future(future)
            try:
                return await asyncio.wait_for(wrapped, max(0.0, deadline - loop.time()))
            except TimeoutError:
                # Really abandoned: the process running it is stopped and replaced.
                slot.replace()
                raise self._over_budget(what) from None
            except BrokenProcessPool:
                log.warning("heavy worker process died", extra={"work": what})
                slot.replace()
                raise Unavailable(
                    "worker_lost",
                    f"the worker process {what} ran in ended unexpectedly (out of memory?); "
                    "it has been restarted, retry or send less at a time",
                ) from None
        finally:
            self._idle.put_nowait(slot)

    def _over_budget(self, what: str) -> Unavailable:
        log.warning("heavy work over budget", extra={"work": what, "s": self.budget_s})
        return Unavailable(
            "time_budget_exceeded",
            f"{what} took longer than the {self.budget_s:g} s budget "
            "(SHELFSCAN_REQUEST_TIME_BUDGET_S) and was abandoned; send less at a time",
        )

    def shutdown(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
        for slot in self._slots:
            slot.shutdown()
