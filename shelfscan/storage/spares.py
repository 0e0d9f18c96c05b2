"""Spare files: photos are written into files made beforehand, not into new ones.

An accepted upload is on disk (``fsync``) before its 202. Flushing a new 3 MB file makes the
filesystem allocate its blocks there and then, in the uploading thread: on this project's
ext4 machines that costs 7–9 ms of CPU per photo, against 0.6–0.9 ms to overwrite a file
whose blocks exist (``benchmarks/load_uploads.py``; the bare endpoint it is measured against
never pays it: its spooled temporary file is deleted before the kernel writes it out). So, as
PostgreSQL does with its WAL segments, a background thread keeps a few files of
``SPARE_BYTES`` written and flushed in ``<root>/.spare/``; a photo is written over one of
them, cut to its length, flushed and renamed into place, and the thread makes another when
the process has written no photo for ``QUIET_S`` (at the lowest CPU priority). A photo larger
than a spare extends it; a file under ``MIN_BYTES`` and, with no spare left (a long burst), a
photo get a new file, as before.

A spare is claimed by renaming it: two threads or processes sharing the folder never write
into the same one. The pool costs ``count × SPARE_BYTES`` of disk
(``SHELFSCAN_STORAGE_SPARE_FILES``; 0 turns it off) and is not made on a disk with less than
``MIN_FREE_BYTES`` free.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
import uuid
from collections import deque
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER = ".spare"
SPARE_BYTES = 4 * 1024 * 1024
# Only photos: a small file (an evidence crop, a report) is cheap to allocate, and would
# waste a spare.
MIN_BYTES = 1024 * 1024
# Spares are made only when no photo was written for this long (uploads come in bursts).
QUIET_S = 1.0
MIN_FREE_BYTES = 2 * 1024**3
# Between two spares made, and between looks at a full pool.
PAUSE_S = 0.05
IDLE_S = 1.0
# A pool found empty is listed again at most this often.
RELIST_S = 0.5


class SpareFiles:
    def __init__(self, root: Path, count: int) -> None:
        self.folder = root / FOLDER
        self.count = count
        self._names: deque[str] = deque()
        self._lock = threading.Lock()
        self._listed_at = 0.0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._last_claim = 0.0

    # --- using them -----------------------------------------------------------------------

    def claim(self, folder: Path, size: int) -> Path | None:
        """A spare moved into ``folder`` (the caller's own, temporary name) for a file of
        ``size`` bytes, or None."""
        if self.count <= 0 or size < MIN_BYTES:
            return None
        self._last_claim = time.monotonic()
        self.start()
        while True:
            name = self._next_name()
            if name is None:
                return None
            claimed = folder / f".incoming-{uuid.uuid4().hex}"
            try:
                os.rename(self.folder / name, claimed)
            except FileNotFoundError:
                continue  # another thread or process took it
            except OSError:
                return None
            return claimed

    def _next_name(self) -> str | None:
        with self._lock:
            if not self._names and time.monotonic() - self._listed_at >= RELIST_S:
                self._names.extend(self._listed())
                self._listed_at = time.monotonic()
            return self._names.popleft() if self._names else None

    def _listed(self) -> list[str]:
        try:
            return [name for name in os.listdir(self.folder) if not name.startswith(".")]
        except FileNotFoundError:
            return []

    # --- making them ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread that keeps the pool full (once per process)."""
        if self._thread is not None or self.count <= 0:
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._keep_full, name="spare-files", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _keep_full(self) -> None:
        with contextlib.suppress(OSError):  # Linux: one thread's priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        while not self._stop.is_set():
            if time.monotonic() - self._last_claim < QUIET_S:
                self._stop.wait(QUIET_S)
                continue
            try:
                made = len(self._listed()) < self.count and self.make_one()
            except OSError:
                log.warning("could not make a spare file", exc_info=True)
                made = False
            self._stop.wait(PAUSE_S if made else IDLE_S)

    def make_one(self) -> bool:
        """Write and flush one spare; False when the disk is too full for it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if shutil.disk_usage(self.folder).free < MIN_FREE_BYTES + SPARE_BYTES:
            return False
        name = uuid.uuid4().hex
        making = self.folder / f".making-{name}"
        try:
            descriptor = os.open(making, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                write_all(descriptor, bytes(SPARE_BYTES))
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.rename(making, self.folder / name)
        except BaseException:
            making.unlink(missing_ok=True)
            raise
        return True


def write_all(descriptor: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]
