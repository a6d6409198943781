"""Helpers of the Pilot tests: settings of a UI home, waiting without sleeping, reading what the screen shows."""

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
from ectui.widgets.modals import HelpModal


def settings_for(home: Path) -> Settings:
    """Settings of an installation rooted at `home` (English UI)."""
    return Settings.from_env({"ECTUI_HOME": str(home)}, lang="en")


async def settle(
    pilot: Pilot[Any], until: Callable[[], bool] | None = None, *, rounds: int = 200, what: str = ""
) -> None:
    """Let workers and messages finish (and, if given, wait until `until()`); never sleeps blindly.

    `what` names the awaited condition in the failure message.
    """
    app: App[Any] = pilot.app
    for _ in range(rounds):
        with contextlib.suppress(
            WorkerFailed, WorkerCancelled
        ):  # the app shows failures; a newer refresh wins
            await app.workers.wait_for_complete()
        await pilot.pause()
        busy = any(not w.is_finished for w in app.workers)
        if not busy and (until is None or until()):
            return
    busy_workers = [(w.name, w.group, str(w.state)) for w in app.workers if not w.is_finished]
    reached = "n/a" if until is None else until()
    raise AssertionError(
        f"the app did not settle{f' on {what}' if what else ''} (condition: {reached}; "
        f"busy workers: {busy_workers}; screen: {app.screen!r})"
    )


async def started(pilot: Pilot[Any]) -> None:
    """Wait until the services are started and the first domain screen is shown."""
    await settle(pilot, lambda: isinstance(pilot.app.screen, DomainScreen), what="the first domain screen")


def notifications(app: App[Any]) -> list[str]:
    """The texts of the notifications currently shown."""
    return [n.message for n in app._notifications]


def domain_key(app: App[Any], domain: str) -> str:
    """The number key that switches to a domain (its place in the sidebar)."""
    ids = [d.id for d in app.visible_domains()]  # type: ignore[attr-defined]
    assert domain in ids, f"domain {domain!r} is not shown (shown: {ids})"
    return str((1 + ids.index(domain)) % 10)


async def until(
    pilot: Pilot[Any], condition: Callable[[], bool], *, timeout: float = 30.0, what: str = ""
) -> None:
    """Wait for a condition while the app (and the dev cloud) run on; polls, never sleeps blindly."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"condition not reached in {timeout:.0f} s{f': {what}' if what else ''} (screen: {pilot.app.screen!r})"
            )
        await pilot.pause(0.02)


def help_text(modal: object) -> str:
    """The help's sections as lines: each title, then 'key description' per row."""
    assert isinstance(modal, HelpModal)
    return "\n".join(
        line for title, rows in modal.sections for line in (title, *(f"{k} {d}" for k, d in rows))
    )
