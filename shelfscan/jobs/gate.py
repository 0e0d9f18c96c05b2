"""Uploads first: scans of the one-machine runners wait to start while uploads arrive.

On one machine the analysis shares the cores (and, on SQLite, the one writer's lock) with
the web process. A niced analysis still took the CPU from uploads arriving in a burst: its
inference runs on every core, and a finished scan's write transaction, descheduled at low
priority, held the database while uploads waited to commit (50 uploads arriving while the
previous 50 were analysed took 3.8× as long to answer as the first 50). So the web process
counts the uploads it is receiving, and a scan thread about to start a scan waits until none
is, for at most ``max_wait_s``: a burst of uploads is answered first, and under uploads that
never stop each scan thread still starts a scan every ``max_wait_s`` (the photos are safe in
storage and the scans in the database meanwhile). A scan already running waits the same way
before it writes its pictures and again before its result (``jobs.tasks``): its writes in
the middle of a later burst held that burst's commits and flushes up (the second and third
of three bursts answered 1.1–1.9 s at p95 against 0.9–1.1 s for the first; with the wait,
all three alike).

The counter lives in shared memory, so that a child analysis process reads the web process's
count (``shelfscan.jobs.process``); Celery workers, elsewhere, do not wait.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

# How often a waiting scan thread looks at the count again.
POLL_S = 0.01


class UploadGate:
    def __init__(self, max_wait_s: float, counter: Any = None) -> None:
        self.max_wait_s = max_wait_s
        # A multiprocessing Value: picklable into a spawned child with the gate.
        self._receiving = (
            counter if counter is not None else multiprocessing.get_context("spawn").Value("i", 0)
        )

    @property
    def receiving(self) -> int:
        return int(self._receiving.value)

    @contextlib.contextmanager
    def upload(self) -> Iterator[None]:
        """Held while one upload is being received and accepted."""
        with self._receiving.get_lock():
            self._receiving.value += 1
        try:
            yield
        finally:
            with self._receiving.get_lock():
                self._receiving.value -= 1

    def wait_for_uploads(self) -> float:
        """Before a scan starts: wait while uploads are being received, at most
        ``max_wait_s``. Returns the seconds waited."""
        if self.max_wait_s <= 0:
            return 0.0
        started = time.monotonic()
        deadline = started + self.max_wait_s
        while self._receiving.value > 0 and time.monotonic() < deadline:
            time.sleep(POLL_S)
        return time.monotonic() - started
