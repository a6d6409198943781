"""One polling loop for the cloud waits: short intervals growing to a cap, a deadline, and cancellation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ectui.services.progress import CancelToken

T = TypeVar("T")


def poll_until(
    check: Callable[[], T | None],
    *,
    first: float,
    cap: float,
    timeout: float,
    on_timeout: Callable[[], BaseException],
    cancel: CancelToken | None = None,
) -> T:
    """Call `check` until it returns something other than None, and return that.

    Waits `first` seconds after the first try, growing by half each time up to `cap`. Past `timeout`
    seconds it raises `on_timeout()`. With a cancel token a wait ends at once when cancel() is called,
    raising Cancelled. `check` may raise to end the wait early (or to honour a cancel before a try).
    """
    deadline = time.monotonic() + timeout
    interval = first
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise on_timeout()
        if cancel is not None:
            if cancel.wait(interval):
                cancel.raise_if_cancelled()
        else:
            time.sleep(interval)
        interval = min(interval * 1.5, cap)
