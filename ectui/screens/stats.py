"""Statistics (console, licensed module): allocation bars, VM states, storage and operations per day."""

from __future__ import annotations

import datetime as dt
import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.timer import Timer
from textual.widgets import Sparkline

from ectui.i18n import _, ngettext, render
from ectui.screens._base import ConsoleDomainScreen
from ectui.services.errors import ServiceError
from ectui.widgets.capacity import capacity_bar
from ectui.widgets.csv_export import CsvExportModal
from ectui.widgets.literal import Label, Static

if TYPE_CHECKING:
    from ectui.services.stats import StatsReport

BAR = 10
"""Width of the allocation bars (fits 80 columns beside the sidebar)."""


def human_bytes(size: int) -> str:
    """1536 → '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def count_bar(count: int, top: int, width: int = BAR) -> str:
    """'██████░░░░ 6': a count against the largest count of its chart."""
    filled = round(count / top * width) if top > 0 else 0
    return "█" * filled + "░" * (width - filled) + f" {count}"


def states_text(states: dict[str, int]) -> str:
    """'ACTIVE 1 · SHUTOFF 1' or '—'."""
    return " · ".join(f"{state} {count}" for state, count in states.items()) or "—"


def pad(text: str, width: int) -> str:
    """`text` padded with spaces to `width` terminal cells (CJK characters take two)."""
    import unicodedata

    cells = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(width - cells, 0)


def quota_line(label: str, used: int, reserved: int, quota: int, unit: str = "") -> str:
    """'  vCPU   ████░░░░░░  40% 3+1/10': used (+reserved) against the quota."""
    held = f"+{reserved}" if reserved else ""
    return f"  {pad(label, 6)} {capacity_bar(used + reserved, quota, width=BAR)} {used}{held}/{quota}{unit}"


def report_sections(r: StatsReport) -> dict[str, str]:
    """The text of each section (plain text: readable with NO_COLOR and in any terminal)."""
    gb = _("GB")
    clusters = []
    for c in r.clusters:
        clusters.append(
            _("{name} · {nodes} · {vms} ({vcpus} vCPU, {ram} GB)").format(
                name=c.name,
                nodes=ngettext("{n} node", "{n} nodes", c.nodes).format(n=c.nodes),
                vms=ngettext("{n} VM", "{n} VMs", c.vms).format(n=c.vms),
                vcpus=c.vm_vcpus,
                ram=c.vm_ram_gb,
            )
        )
        clusters.append(
            f"  {'vCPU':<6} {capacity_bar(c.vcpus_used, c.vcpus, width=BAR)} {c.vcpus_used}/{c.vcpus}"
        )
        clusters.append(
            f"  {'RAM':<6} {capacity_bar(c.memory_mb_used, c.memory_mb, width=BAR)} "
            f"{c.memory_mb_used // 1024}/{c.memory_mb // 1024} {gb}"
        )
    nodes = []
    for n in r.nodes:
        state = f"{n.state}/{n.status}" if n.present else _("gone")
        nodes.append(
            _("{cluster}/{name} · {state} · {vms}").format(
                cluster=n.cluster,
                name=n.name,
                state=state,
                vms=ngettext("{n} VM", "{n} VMs", n.vms).format(n=n.vms),
            )
        )
        nodes.append(
            f"  {'vCPU':<6} {capacity_bar(n.vcpus_used, n.vcpus, width=BAR)} {n.vcpus_used}/{n.vcpus}"
        )
        nodes.append(
            f"  {'RAM':<6} {capacity_bar(n.memory_mb_used, n.memory_mb, width=BAR)} "
            f"{n.memory_mb_used // 1024}/{n.memory_mb // 1024} {gb}"
        )
    projects = []
    for p in r.projects:
        projects.append(
            _("{name} ({cluster}) · VMs: {states}").format(
                name=p.name, cluster=p.cluster or "—", states=states_text(p.vm_states)
            )
        )
        projects.append(quota_line("vCPU", p.used_vcpus, p.reserved_vcpus, p.quota_vcpus))
        projects.append(quota_line("RAM", p.used_ram_gb, p.reserved_ram_gb, p.quota_ram_gb, f" {gb}"))
        projects.append(quota_line(_("VMs"), p.used_vms, p.reserved_vms, p.quota_vms))
        projects.append(quota_line("IP", p.used_public_ips, p.reserved_public_ips, p.quota_public_ips))
    top = max(r.vm_states.values(), default=0)
    states = [f"{state:<12} {count_bar(count, top)}" for state, count in r.vm_states.items()]
    storage = []
    for kind, title in (("image", _("Images")), ("iso", _("ISO files"))):
        total = r.storage_total(kind)
        largest = (
            _("largest {name} ({size})").format(
                name=total.largest_name, size=human_bytes(total.largest_bytes)
            )
            if total.count
            else _("none")
        )
        storage.append(f"{title}: {total.count} · {human_bytes(total.total_bytes)} · {largest}")
        classes = [c for c in r.size_classes if c.kind == kind]
        top_class = max((c.count for c in classes), default=0)
        storage.extend(
            f"  {pad(_(c.label), 11)} {count_bar(c.count, top_class)} ({human_bytes(c.total_bytes)})"
            for c in classes
        )
        if len(r.clusters) > 1:
            storage.extend(
                f"  {s.cluster}: {s.count} · {human_bytes(s.total_bytes)}"
                for s in r.storage
                if s.kind == kind
            )
    ops = [
        _("{since} — {until} · {total} operations · {failed} failed ({rate})").format(
            since=r.since.strftime("%m-%d"),
            until=r.until.strftime("%m-%d"),
            total=r.ops_total,
            failed=r.ops_failed,
            rate=f"{r.failure_rate:.0%}",
        )
    ]
    ops.extend(
        _(
            "{kind}: {total} · done {done} · failed {failed} · compensated {compensated} · {rate} failed"
        ).format(
            kind=k.kind,
            total=k.total,
            done=k.done,
            failed=k.failed,
            compensated=k.compensated,
            rate=f"{k.failure_rate:.0%}",
        )
        for k in r.kinds
    )
    empty = _("nothing yet")
    return {
        "clusters": "\n".join(clusters) or empty,
        "nodes": "\n".join(nodes) or empty,
        "projects": "\n".join(projects) or empty,
        "states": "\n".join(states) or empty,
        "storage": "\n".join(storage),
        "ops": "\n".join(ops),
    }


class ExportStatsModal(CsvExportModal):
    """Writes the report shown as CSV."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Export"), id="stats_export.submit")]


class StatsScreen(ConsoleDomainScreen):
    """Usage by cluster, node and project; refreshes while shown, exports CSV."""

    DOMAIN = "stats"
    CSS_PATH = "stats.tcss"
    BINDINGS = [
        Binding("c", "cycle_cluster", _("Cluster filter"), id="stats.cluster"),
        Binding("P", "cycle_project", _("Project filter"), id="stats.project"),
        Binding("d", "toggle_days", _("14/30 days"), id="stats.days"),
        Binding("e", "export", _("Export CSV"), id="stats.export"),
        Binding("r", "refresh", _("Refresh"), id="stats.refresh"),
    ]

    POLL: ClassVar[float] = 5.0
    """Seconds between refreshes while the operator is active."""
    POLL_IDLE: ClassVar[float] = 30.0
    """Seconds between refreshes once the operator has been idle for IDLE_AFTER."""
    POLL_MAX: ClassVar[float] = 120.0
    """The longest wait after repeated refresh failures (backoff doubles up to this)."""
    IDLE_AFTER: ClassVar[float] = 60.0
    """Seconds without a key on this screen after which the operator counts as idle."""

    def __init__(self) -> None:
        super().__init__()
        self.cluster: str | None = None
        """The cluster filter (None: every cluster)."""
        self.project: str | None = None
        """The project filter (None: every project)."""
        self.days = 14
        """Days of operations shown (14 or 30)."""
        self.report: StatsReport | None = None
        """The report shown."""
        self.clusters: list[str] = []
        self.projects: list[str] = []
        self.polling = False
        """Whether the live refresh runs (only while the screen is shown)."""
        self.poll_delay = 0.0
        """The delay chosen for the next refresh."""
        self.failures = 0
        """Refresh failures in a row (backoff)."""
        self.last_activity = time.monotonic()
        self._poll_timer: Timer | None = None

    def compose_content(self) -> ComposeResult:
        yield Label(_("Statistics"), classes="section-title", id="stats-title")
        with VerticalScroll(id="stats-body"):
            for key, title in (
                ("clusters", _("Clusters: vCPU and RAM allocated / capacity")),
                ("nodes", _("Compute nodes")),
                ("projects", _("Projects: used+reserved / quota")),
                ("states", _("VMs by state")),
                ("storage", _("Images and ISO files by size")),
            ):
                yield Label(title, classes="stats-heading")
                yield Static("…", id=f"stats-{key}", markup=False, classes="stats-section")
            yield Label(_("Operations per day"), classes="stats-heading", id="stats-ops-title")
            yield Sparkline([], summary_function=max, id="stats-sparkline")
            yield Static("", id="stats-ops", markup=False, classes="stats-section")
        yield Static("", id="stats-status", markup=False)

    def on_mount(self) -> None:
        self.query_one("#stats-body", VerticalScroll).focus()
        self.show_title()

    def on_screen_resume(self) -> None:
        self.polling = True
        self.last_activity = time.monotonic()
        self.refresh_stats()

    def on_screen_suspend(self) -> None:
        self.polling = False
        self._stop_timer()

    # -- what is shown

    def show_title(self) -> None:
        """'Statistics · cluster dc1 · all projects · 14 days'."""
        cluster = _("cluster {name}").format(name=self.cluster) if self.cluster else _("all clusters")
        project = _("project {name}").format(name=self.project) if self.project else _("all projects")
        self.query_one("#stats-title", Label).update(
            _("Statistics · {cluster} · {project} · {days} days").format(
                cluster=cluster, project=project, days=self.days
            )
        )

    def show_report(self, report: StatsReport) -> None:
        """Fill every section from a report."""
        self.report = report
        for key, text in report_sections(report).items():
            self.query_one(f"#stats-{key}", Static).update(text)
        self.query_one("#stats-sparkline", Sparkline).data = [d.total for d in report.days]
        self.query_one("#stats-status", Static).update(
            _("Updated {time} UTC").format(time=report.generated_at.strftime("%H:%M:%S"))
        )

    def figures_text(self) -> str:
        """Everything the sections show, as one text (for tests and screen readers)."""
        return "\n".join(
            str(self.query_one(f"#stats-{key}", Static).render())
            for key in ("clusters", "nodes", "projects", "states", "storage", "ops")
        )

    # -- live refresh

    def on_key(self, _event: events.Key) -> None:
        idle = self.is_idle
        self.last_activity = time.monotonic()
        if idle and self.polling:
            self.schedule_poll()

    @property
    def is_idle(self) -> bool:
        """No key on this screen for IDLE_AFTER seconds."""
        return time.monotonic() - self.last_activity >= self.IDLE_AFTER

    def next_delay(self) -> float:
        """POLL while active, POLL_IDLE when idle; doubled after each failure up to POLL_MAX."""
        if self.failures:
            return min(self.POLL * 2**self.failures, self.POLL_MAX)
        return self.POLL_IDLE if self.is_idle else self.POLL

    def _stop_timer(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None

    def schedule_poll(self) -> None:
        """Arm the next refresh (replacing an armed one)."""
        self._stop_timer()
        if self.polling:
            self.poll_delay = self.next_delay()
            self._poll_timer = self.set_timer(self.poll_delay, self.poll, name="stats-poll")

    def poll(self) -> None:
        self._poll_timer = None
        if self.polling:
            self.refresh_stats()

    @work(exclusive=True, group="stats-refresh", exit_on_error=False)
    async def refresh_stats(self) -> None:
        """Read the report for the filters, show it, arm the next refresh."""
        from ectui.services.stats import StatsFilter

        try:
            self.clusters, self.projects = await self.services.stats.choices()
            if self.cluster not in (None, *self.clusters):
                self.cluster = None
            if self.project not in (None, *self.projects):
                self.project = None
            self.show_title()
            report = await self.services.stats.report(
                StatsFilter(cluster=self.cluster, project=self.project, days=self.days)
            )
        except ServiceError as err:
            self.failures += 1
            self.query_one("#stats-status", Static).update(
                _("Refresh failed: {reason} (retrying)").format(reason=render(err))
            )
        else:
            self.failures = 0
            self.show_report(report)
        finally:
            self.schedule_poll()

    # -- actions

    def action_cycle_cluster(self) -> None:
        """Show the next cluster (after the last: every cluster)."""
        self.cluster = _next(self.clusters, self.cluster)
        self.show_title()
        self.refresh_stats()

    def action_cycle_project(self) -> None:
        """Show the next project (after the last: every project)."""
        self.project = _next(self.projects, self.project)
        self.show_title()
        self.refresh_stats()

    def action_toggle_days(self) -> None:
        """Operations of the last 14 or 30 days."""
        self.days = 30 if self.days == 14 else 14
        self.show_title()
        self.refresh_stats()

    def action_refresh(self) -> None:
        """Read the figures again now."""
        self.refresh_stats()

    def action_export(self) -> None:
        """Write the figures shown as CSV to a file the operator names."""
        if self.report is None:
            self.notify(_("Nothing to export yet."), severity="warning")
            return
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M")
        default = Path.cwd() / f"ectui-stats-{stamp}.csv"

        def written(path: Path | None) -> None:
            if path is not None:
                self.notify(_("CSV written to {path}").format(path=path), title=_("Statistics exported"))

        write = functools.partial(self.services.stats.write_report_csv, self.report)
        self.app.push_screen(
            ExportStatsModal(_("Export statistics as CSV"), write, default, prefix="stats"), callback=written
        )


def _next(names: list[str], current: str | None) -> str | None:
    """The name after `current` in `names`; None after the last (and the first after None)."""
    if not names:
        return None
    if current not in names:
        return names[0]
    index = names.index(current) + 1
    return names[index] if index < len(names) else None
