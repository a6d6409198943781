"""Background jobs of the console (uploads, syncs): they outlive the screen that started them.

A job runs as an app-level worker: its progress comes back as a message that merges
while queued, and every change is published on `Jobs.signal` for the jobs panel and the header.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from textual.app import App
from textual.message import Message
from textual.signal import Signal

from ectui.i18n import _, render
from ectui.services.errors import ServiceError
from ectui.services.progress import Cancelled, CancelToken, Progress, ProgressCallback

JobWork = Callable[[ProgressCallback, CancelToken], Awaitable[Any]]
"""The work of a job: gets a progress callback (any thread) and a cancel token; returns a result."""

STATES = ("running", "done", "failed", "cancelled")


@dataclass(frozen=True)
class Job:
    """A snapshot of one background job."""

    id: int
    title: str
    state: str = "running"
    progress: Progress | None = None
    started: dt.datetime = field(default_factory=dt.datetime.now)
    finished: dt.datetime | None = None
    message: str = ""
    """The outcome in the UI language (the error when failed)."""
    result: Any = None

    @property
    def running(self) -> bool:
        """Still working."""
        return self.state == "running"


class JobProgressed(Message):
    """Progress of a job (posted from any thread); only the newest queued one per job matters."""

    def __init__(self, job_id: int, progress: Progress) -> None:
        super().__init__()
        self.job_id = job_id
        self.progress = progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobProgressed) and message.job_id == self.job_id


class Jobs:
    """The app's job list: start, cancel, read; changes are published on `signal`."""

    def __init__(self, app: App[Any]) -> None:
        self._app = app
        self._jobs: dict[int, Job] = {}
        self._tokens: dict[int, CancelToken] = {}
        self._ids = itertools.count(1)
        self.signal: Signal[Job] = Signal(app, "jobs")

    def start(
        self,
        title: str,
        work: JobWork,
        *,
        on_done: Callable[[Job], None] | None = None,
    ) -> Job:
        """Run `work` in the background; `on_done(job)` runs on the app's loop when it ends."""
        job = Job(next(self._ids), title)
        token = CancelToken()
        self._jobs[job.id] = job
        self._tokens[job.id] = token
        self.signal.publish(job)

        def progress(p: Progress) -> None:
            self._app.post_message(JobProgressed(job.id, p))

        async def run() -> None:
            try:
                result = await work(progress, token)
            except Cancelled as err:
                self._finish(job.id, "cancelled", render(err))
            except ServiceError as err:
                self._finish(job.id, "failed", render(err))
            except Exception as err:  # a bug: shown as one line, never a traceback
                self._app.log.error(f"job {title!r} failed: {err!r}")
                self._finish(job.id, "failed", render(err))
            else:
                self._finish(job.id, "done", _("Done"), result)
            if on_done is not None:
                on_done(self._jobs[job.id])

        self._app.run_worker(run(), group=f"job-{job.id}", exit_on_error=False, name=f"job-{job.id}")
        return job

    def cancel(self, job_id: int) -> None:
        """Ask a running job to stop (it cleans up what it made)."""
        token = self._tokens.get(job_id)
        if token is not None:
            token.cancel()

    def progressed(self, job_id: int, progress: Progress) -> None:
        """Record a progress report (called by the app's message handler)."""
        job = self._jobs.get(job_id)
        if job is not None and job.running:
            self._jobs[job_id] = replace(job, progress=progress)
            self.signal.publish(self._jobs[job_id])

    def _finish(self, job_id: int, state: str, message: str, result: Any = None) -> None:
        job = replace(
            self._jobs[job_id], state=state, message=message, finished=dt.datetime.now(), result=result
        )
        self._jobs[job_id] = job
        self._tokens.pop(job_id, None)
        self.signal.publish(job)

    def all(self) -> list[Job]:
        """Every job of this session, newest first."""
        return sorted(self._jobs.values(), key=lambda j: j.id, reverse=True)

    def get(self, job_id: int) -> Job | None:
        """One job."""
        return self._jobs.get(job_id)

    def running(self) -> list[Job]:
        """The jobs still working."""
        return [j for j in self._jobs.values() if j.running]

    def summary(self) -> str:
        """A short header text: '2 jobs · 45%' or ''."""
        running = self.running()
        if not running:
            return ""
        fractions = [j.progress.fraction for j in running if j.progress and j.progress.fraction is not None]
        if len(running) == 1:
            pct = f" · {round(fractions[0] * 100)}%" if fractions else ""
            return _("1 job{pct}").format(pct=pct)
        return _("{n} jobs").format(n=len(running))


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def progress_text(progress: Progress | None) -> str:
    """'512.0 MiB / 1.0 GiB · 210.3 MiB/s · ETA 2s'."""
    if progress is None:
        return ""
    if progress.unit == "steps":
        counted = _("step {done}/{total}").format(done=progress.done, total=progress.total or "?")
        return " · ".join(p for p in (counted, _(progress.detail) if progress.detail else "") if p)
    parts = [human_bytes(progress.done) + (f" / {human_bytes(progress.total)}" if progress.total else "")]
    if progress.rate:
        parts.append(f"{human_bytes(progress.rate)}/s")
    eta = progress.eta_seconds
    if eta is not None:
        parts.append(_("ETA {eta}").format(eta=_duration(eta)))
    if progress.detail:
        parts.append(_(progress.detail))
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
