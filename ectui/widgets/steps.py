"""StepProgress: the steps of a multi-step operation, each with its state, start time and duration.

Readable without colour (NO_COLOR, monochrome terminals, screen readers): every state has a symbol and
a word, e.g. '✓ done', '✗ failed', '↺ compensated'; colour only adds emphasis.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from textual.content import Content

from ectui.i18n import N_, _
from ectui.text import visible
from ectui.widgets.literal import Static

if TYPE_CHECKING:
    from ectui.services.progress import Progress

STATE_SYMBOLS: dict[str, str] = {
    "pending": "·",
    "running": "▶",
    "done": "✓",
    "failed": "✗",
    "compensated": "↺",
    "skipped": "–",
    "not_run": "–",
}
"""One symbol per step state (never colour alone)."""

STATE_LABELS: dict[str, str] = {
    "pending": N_("pending"),
    "running": N_("running"),
    "done": N_("done"),
    "failed": N_("failed"),
    "compensated": N_("compensated"),
    "skipped": N_("skipped"),
    "not_run": N_("not run"),
}
"""The state words (translated when shown)."""

STATE_STYLES: dict[str, str] = {
    "pending": "$text-muted",
    "running": "bold $text-accent",
    "done": "$text-success",
    "failed": "bold $text-error",
    "compensated": "$text-warning",
    "skipped": "$text-muted",
    "not_run": "$text-muted",
}
"""Theme styles of the state column (emphasis only; NO_COLOR drops them)."""


class StepLike(Protocol):
    """What StepProgress reads of a step (the engine's StepInfo fits)."""

    @property
    def code(self) -> str: ...  # noqa: D102
    @property
    def label(self) -> str: ...  # noqa: D102
    @property
    def state(self) -> str: ...  # noqa: D102
    @property
    def detail(self) -> str: ...  # noqa: D102
    @property
    def started_at(self) -> dt.datetime | None: ...  # noqa: D102
    @property
    def finished_at(self) -> dt.datetime | None: ...  # noqa: D102


@dataclass(frozen=True)
class StepRow:
    """One step as shown: times are naive UTC (as the database stores them)."""

    code: str
    label: str
    """An untranslated (N_) label."""
    state: str = "pending"
    detail: str = ""
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @classmethod
    def of(cls, step: StepLike) -> StepRow:
        """A row from any step-like object."""
        return cls(step.code, step.label, step.state, step.detail or "", step.started_at, step.finished_at)


def utcnow() -> dt.datetime:
    """Naive UTC now (the clock of the stored times)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def local_time(moment: dt.datetime | None, fmt: str = "%H:%M:%S") -> str:
    """A stored (naive UTC) time in the operator's local time; '' when unknown."""
    if moment is None:
        return ""
    return moment.replace(tzinfo=dt.UTC).astimezone().strftime(fmt)


def duration_text(seconds: float | None) -> str:
    """0.42 → '0.4s', 75 → '1m15s', 4000 → '1h06m'; '' when unknown."""
    if seconds is None:
        return ""
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def span(
    started: dt.datetime | None, finished: dt.datetime | None, now: dt.datetime | None = None
) -> float | None:
    """Seconds from start to finish (to now while it runs); None when it never started."""
    if started is None:
        return None
    return ((finished or now or utcnow()) - started).total_seconds()


def state_text(state: str) -> str:
    """'✓ done' in the UI language."""
    label = STATE_LABELS.get(state)
    return f"{STATE_SYMBOLS.get(state, '?')} {_(label) if label else state}"


class StepProgress(Static):
    """The steps of one operation, one line each: state, start time, duration, label (and why it failed)."""

    DEFAULT_CSS = """
    StepProgress {
        height: auto;
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(
        self,
        steps: Iterable[StepLike] = (),
        *,
        id: str | None = None,  # noqa: A002 - Textual's name
        classes: str | None = None,
    ) -> None:
        super().__init__("", id=id, classes=classes, markup=False)
        self.steps: list[StepRow] = [StepRow.of(s) for s in steps]
        """The steps shown, in order."""
        self.failed_code: str | None = None
        """The step seen failing live (the first compensation report came while it ran)."""

    def on_mount(self) -> None:
        self.redraw()

    # -- feeding

    def show_steps(self, steps: Iterable[StepLike], *, error: str = "", ended: bool = False) -> None:
        """Show persisted steps (the engine's StepInfo rows): the authoritative state.

        The engine also compensates the step that failed, so that its row ends `compensated`; the step
        named by the operation's `error` ("… at step '<label>' …") or seen failing live is shown as failed.
        Once the operation has `ended`, steps still pending never ran: they show as 'not run'.
        """
        rows = [StepRow.of(s) for s in steps]
        if ended:
            rows = [replace(r, state="not_run") if r.state == "pending" else r for r in rows]
        self.steps = failed_step_marked(rows, error, self.failed_code)
        self.redraw()

    def show_plan(self, steps: Sequence[tuple[str, str]]) -> None:
        """Show (code, label) steps, all pending (before the operation is persisted)."""
        self.show_steps(StepRow(code, label) for code, label in steps)

    def advance(self, progress: Progress) -> None:
        """Apply a live progress report (unit 'steps'): earlier steps done, this one running.

        A compensation report (step 'rollback') marks the step it undoes as compensated once the next
        report arrives; the persisted state read afterwards is the final word.
        """
        if progress.unit != "steps" or not self.steps:
            return
        now = utcnow()
        position = progress.done
        rows = list(self.steps)
        if progress.step == "done":
            rows = [r if r.state in ("skipped", "done") else _finished(r, "done", now) for r in rows]
        elif progress.step == "rollback":
            for i, row in enumerate(rows):
                if row.state == "running":
                    self.failed_code = self.failed_code or row.code
                    rows[i] = _finished(row, "failed", now)
        elif 0 <= position < len(rows):
            for i, row in enumerate(rows):
                if i < position and row.state in ("pending", "running"):
                    rows[i] = _finished(row, "done", now)
            if rows[position].state == "pending":
                rows[position] = replace(rows[position], state="running", started_at=now)
        self.steps = rows
        self.redraw()

    # -- reading

    def lines(self, now: dt.datetime | None = None) -> list[str]:
        """The text of every line as shown, without colour (for tests and screen readers)."""
        return [str(line) for line in self._lines(now)]

    @property
    def text(self) -> str:
        """Everything shown, as plain text."""
        return "\n".join(self.lines())

    def states(self) -> dict[str, str]:
        """Step code → state."""
        return {r.code: r.state for r in self.steps}

    @property
    def finished(self) -> bool:
        """No step pending or running."""
        return bool(self.steps) and all(r.state not in ("pending", "running") for r in self.steps)

    def redraw(self) -> None:
        """Render the lines again (durations of running steps grow)."""
        self.update(Content("\n").join(self._lines()))

    def _lines(self, now: dt.datetime | None = None) -> list[Content]:
        now = now or utcnow()
        width = max((len(state_text(s)) for s in STATE_LABELS), default=10)
        out: list[Content] = []
        for number, row in enumerate(self.steps, start=1):
            state = state_text(row.state).ljust(width)
            started = local_time(row.started_at) or "--:--:--"
            took = duration_text(span(row.started_at, row.finished_at, now)) if row.started_at else ""
            out.append(
                Content.assemble(
                    f"{number:>2} ",
                    (state, STATE_STYLES.get(row.state, "")),
                    f" {started} {took:>6}  ",
                    (_(row.label), "bold" if row.state in ("running", "failed") else ""),
                )
            )
            if _shows_detail(row):
                out.append(Content.assemble("      ", (f"↳ {visible(_(row.detail))}", "$text-muted")))
        return out


def failed_step_marked(rows: list[StepRow], error: str, failed_code: str | None = None) -> list[StepRow]:
    """The rows with the step that failed shown as failed, when the engine marked it compensated."""
    if any(r.state == "failed" for r in rows):
        return rows
    for i, row in enumerate(rows):
        if row.state != "compensated":
            continue
        named = bool(error) and any(f"'{label}'" in error for label in {row.label, _(row.label)})
        if row.code == failed_code or named:
            rows[i] = replace(row, state="failed")
            return rows
    return rows


def _shows_detail(row: StepRow) -> bool:
    """Why a step failed or was undone, and what a running step is doing, get a line of their own."""
    if not row.detail or row.detail == row.label:
        return False
    return row.state in ("failed", "compensated", "running")


def _finished(row: StepRow, state: str, now: dt.datetime) -> StepRow:
    return replace(row, state=state, started_at=row.started_at or now, finished_at=row.finished_at or now)
