"""Helpers of the Pilot tests: waiting without sleeping, reading what the screen shows."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed

from ectui.config import Settings
from ectui.screens._base import DomainScreen


def settings_for(home: Path) -> Settings:
    """Settings of an installation rooted at `home` (English UI)."""
    return Settings.from_env({"ECTUI_HOME": str(home)}, lang="en")


async def settle(pilot: Pilot[Any], until: Callable[[], bool] | None = None, *, rounds: int = 200) -> None:
    """Let workers and messages finish (and, if given, wait until `until()`); never sleeps blindly."""
    app: App[Any] = pilot.app
    for _ in range(rounds):
        with contextlib.suppress(
            WorkerFailed, WorkerCancelled
        ):  # the app shows failures; a newer refresh replaces an older one
            await app.workers.wait_for_complete()
        await pilot.pause()
        busy = any(not w.is_finished for w in app.workers)
        if not busy and (until is None or until()):
            return
    busy = [(w.name, w.group, str(w.state)) for w in app.workers if not w.is_finished]
    raise AssertionError(f"the app did not settle (busy workers: {busy}; screen: {app.screen!r})")


async def started(pilot: Pilot[Any]) -> None:
    """Wait until the services are started and the first domain screen is shown."""
    await settle(pilot, lambda: isinstance(pilot.app.screen, DomainScreen))


def notifications(app: App[Any]) -> list[str]:
    """The texts of the notifications currently shown."""
    return [n.message for n in app._notifications]


def domain_key(app: App[Any], domain: str) -> str:
    """The number key that switches to a domain (its place in the sidebar)."""
    return str((1 + [d.id for d in app.visible_domains()].index(domain)) % 10)  # type: ignore[attr-defined]


async def until(pilot: Pilot[Any], condition: Callable[[], bool], *, timeout: float = 30.0) -> None:
    """Wait for a condition while the app (and the dev cloud) run on; polls, never sleeps blindly."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await pilot.pause(0.02)
