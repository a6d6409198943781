"""Files with known, non-zero contents, and waiting for a condition outside an app."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path


def make_file(path: Path, size: int, seed: bytes = b"ectui") -> Path:
    """A file of `size` bytes from `seed` (4 KiB blocks, not all zero: zero runs become holes)."""
    block = hashlib.sha512(seed).digest() * 64  # 4 KiB, not all zero (zero runs become holes)
    with path.open("wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)
    return path


def iso_file(path: Path, size: int) -> Path:
    """A file of `size` bytes made from its name (128 KiB blocks, not all zeros)."""
    block = hashlib.sha256(path.name.encode()).digest() * 4096  # 128 KiB, not all zeros
    with path.open("wb") as fh:
        left = size
        while left:
            fh.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    return path


def wait_for(condition: Callable[[], object], timeout: float = 60.0) -> None:
    """Poll `condition` (every 50 ms) until it is true; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not reached in {timeout:.0f} s"
        time.sleep(0.05)
