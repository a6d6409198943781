"""Progress reports and cancellation for long work (uploads, syncs, multi-step operations)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ectui.services.errors import ServiceError


@dataclass(frozen=True)
class Progress:
    """One progress report: which step, how far, and an optional human detail."""

    step: str
    """A short code of the current step ('upload', 'verify', ...)."""
    done: int
    total: int | None = None
    detail: str = ""
    rate: float | None = None
    """Units (bytes) per second over the work so far."""
    unit: str = "bytes"
    """What done/total count: 'bytes' (transfers) or 'steps' (multi-step operations)."""

    @property
    def fraction(self) -> float | None:
        """done/total in [0, 1], or None when the total is unknown."""
        if not self.total:
            return None
        return min(max(self.done / self.total, 0.0), 1.0)

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the current rate, when known."""
        if not self.total or not self.rate:
            return None
        return max(self.total - self.done, 0) / self.rate


ProgressCallback = Callable[[Progress], None]
"""May be called from any thread; services throttle it to at most ~10 calls a second."""


def ignore_progress(_progress: Progress) -> None:
    """The default progress callback: drop it."""


class Cancelled(ServiceError):
    """The operator cancelled the work; whatever it had made was cleaned up."""

    def __init__(self, key: str = "job.cancelled", **params: object) -> None:
        super().__init__(key, **params)


class CancelToken:
    """Set by the UI, checked by the work between chunks and steps (also from worker threads)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the work to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether cancel() was called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise Cancelled when cancel() was called."""
        if self._event.is_set():
            raise Cancelled()

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, waking at once on cancel; returns whether cancel() was called."""
        return self._event.wait(timeout)


class Throttle:
    """Forward progress at most `per_second` times a second (always the first and the final report)."""

    def __init__(self, callback: ProgressCallback, *, per_second: float = 10.0) -> None:
        self._callback = callback
        self._interval = 1.0 / per_second
        self._last = 0.0
        self._lock = threading.Lock()
        self.started = time.monotonic()

    def __call__(self, progress: Progress, *, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not force and now - self._last < self._interval:
                return
            self._last = now
        self._callback(progress)

    def rate(self, done: int) -> float | None:
        """Units per second since the start."""
        elapsed = time.monotonic() - self.started
        return done / elapsed if elapsed > 0 else None


class ChunkReader:
    """A file object that counts what is read from it: progress and cancellation for uploads.

    It stays seekable (a retry after re-authentication rewinds it) and never holds more than one
    chunk in memory, whatever the file size.
    """

    def __init__(
        self,
        path: Path,
        *,
        step: str = "upload",
        on_progress: ProgressCallback = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> None:
        self.path = Path(path)
        self._fh: BinaryIO = self.path.open("rb")
        self.total = self.path.stat().st_size
        self._step = step
        self._cancel = cancel
        self._throttle = Throttle(on_progress)
        self.position = 0

    def __len__(self) -> int:
        return self.total

    def read(self, size: int = -1) -> bytes:
        """Read the next chunk; raises Cancelled when the operator cancelled."""
        if self._cancel is not None:
            self._cancel.raise_if_cancelled()
        data = self._fh.read(size)
        self.position = self._fh.tell()
        done = self.position
        self._throttle(
            Progress(self._step, done, self.total, rate=self._throttle.rate(done)), force=done >= self.total
        )
        return data

    def __iter__(self) -> ChunkReader:
        return self

    def __next__(self) -> bytes:
        chunk = self.read(1 << 20)
        if not chunk:
            raise StopIteration
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        """Rewind or move (a retried request sends the body again)."""
        self.position = self._fh.seek(offset, whence)
        return self.position

    def tell(self) -> int:
        """The current position."""
        return self._fh.tell()

    def seekable(self) -> bool:
        """Always: the body can be sent again."""
        return True

    def readable(self) -> bool:
        """Always."""
        return True

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
