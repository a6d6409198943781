"""ISO tests: a cluster with FTP settings, and interrupting an upload mid-way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ectui.services import ConsoleServices
from ectui.services.clusters import ClusterDraft, FtpDraft
from ectui.services.ftp import FtpSession


async def add_cluster(console: ConsoleServices, settings: FtpDraft, name: str = "dc1") -> None:
    """Add cluster `name` (local storage, an unreachable cloud) with FTP `settings`."""
    draft = ClusterDraft.parse(
        name=name,
        storage_mode="local",
        auth_url="http://127.0.0.1:9/v3",
        username="u",
        password="p",
        project="p",
    )
    await console.clusters.add(draft)
    await console.clusters.set_ftp(name, settings)


def interrupt_after(monkeypatch: pytest.MonkeyPatch, limit: int, action: Callable[[], None]) -> None:
    """Run `action` after each block once a transfer has sent `limit` bytes (a quit or a kill mid-way).

    Repeated because Python 3.11's wait_for (inside aioftp) may swallow one task cancellation.
    """
    original = FtpSession.upload

    async def upload(self: FtpSession, name: str, path: Path, **kwargs: Any) -> int:
        inner = kwargs.pop("on_sent", None)

        async def on_sent(position: int) -> None:
            if inner is not None:
                await inner(position)
            if position >= limit:
                action()

        return await original(self, name, path, on_sent=on_sent, **kwargs)

    monkeypatch.setattr(FtpSession, "upload", upload)
