"""`ectui stats`: usage by cluster, node and project, storage and operations per day."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ectui.commands._util import CsvDocument, command, table

if TYPE_CHECKING:
    from ectui.services.stats import StatsReport

SPARK = "▁▂▃▄▅▆▇█"


def register(sub: Any) -> None:
    """Add the stats command."""
    from ectui.i18n import _

    stats = sub.add_parser("stats", help=_("usage statistics by cluster, node and project (licensed module)"))
    stats.add_argument("--cluster", metavar=_("CLUSTER"), help=_("only this cluster"))
    stats.add_argument("--project", metavar=_("PROJECT"), help=_("only this project (and its cluster)"))
    stats.add_argument("--days", default="14", metavar="N", help=_("days of operations (default 14)"))
    stats.add_argument("--csv", metavar=_("FILE"), help=_("also write the figures as CSV to FILE"))
    command(stats, stats_show)


async def stats_show(s: Any, a: argparse.Namespace) -> tuple[object, object]:
    from ectui.i18n import _
    from ectui.services.stats import StatsFilter

    stats_filter = StatsFilter.parse(cluster=a.cluster, project=a.project, days=a.days)
    report = await s.stats.report(stats_filter)
    data = report.to_json()
    text = report_text(report)
    if a.csv == "-":  # the rows write_csv would write, on stdout instead of the report
        return data, CsvDocument(("section", "subject", "metric", "value"), list(report.csv_rows()))
    if a.csv:
        path = await s.stats.write_report_csv(report, a.csv)
        data["csv"] = str(path)
        text += "\n\n" + _("CSV written to {path}").format(path=path)
    return data, text


def sparkline(values: list[int]) -> str:
    """One block character per value, scaled to the largest ('▁' for zero)."""
    top = max(values, default=0)
    if top <= 0:
        return SPARK[0] * len(values)
    return "".join(SPARK[round(v / top * (len(SPARK) - 1))] for v in values)


def _pct(used: int, total: int) -> str:
    return f"{round(used / total * 100)}%" if total > 0 else "—"


def human_bytes(size: int) -> str:
    """1536 → '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def report_text(r: StatsReport) -> str:
    """The report as text tables."""
    from ectui.i18n import _

    scope = ", ".join(
        part
        for part in (
            _("cluster {name}").format(name=r.filter.cluster) if r.filter.cluster else "",
            _("project {name}").format(name=r.filter.project) if r.filter.project else "",
        )
        if part
    ) or _("all clusters and projects")
    out: list[object] = [
        _("Statistics · {scope} · {generated} UTC").format(
            scope=scope, generated=r.generated_at.strftime("%Y-%m-%d %H:%M")
        )
    ]
    out += [
        "",
        _("Clusters"),
        table(
            [
                _("Cluster"),
                _("Nodes"),
                _("vCPU used"),
                "%",
                _("RAM used (GB)"),
                "%",
                _("VMs"),
                _("VM states"),
            ],
            [
                (
                    c.name,
                    c.nodes,
                    f"{c.vcpus_used}/{c.vcpus}",
                    _pct(c.vcpus_used, c.vcpus),
                    f"{c.memory_mb_used // 1024}/{c.memory_mb // 1024}",
                    _pct(c.memory_mb_used, c.memory_mb),
                    c.vms,
                    _states(c.vm_states),
                )
                for c in r.clusters
            ],
        ),  # fmt: skip
        "",
        _("Compute nodes"),
        table(
            [_("Cluster"), _("Node"), _("State"), _("vCPU used"), "%", _("RAM used (GB)"), "%", _("VMs")],
            [
                (
                    n.cluster,
                    n.name,
                    f"{n.state}/{n.status}" if n.present else _("gone"),
                    f"{n.vcpus_used}/{n.vcpus}",
                    _pct(n.vcpus_used, n.vcpus),
                    f"{n.memory_mb_used // 1024}/{n.memory_mb // 1024}",
                    _pct(n.memory_mb_used, n.memory_mb),
                    n.vms,
                )
                for n in r.nodes
            ],
        ),  # fmt: skip
        "",
        _("Projects (used+reserved/quota)"),
        table(
            [_("Project"), _("Cluster"), _("vCPU"), _("RAM GB"), _("VMs"), _("Public IPs"), _("VM states")],
            [
                (
                    p.name,
                    p.cluster or "—",
                    _quota(p.used_vcpus, p.reserved_vcpus, p.quota_vcpus),
                    _quota(p.used_ram_gb, p.reserved_ram_gb, p.quota_ram_gb),
                    _quota(p.used_vms, p.reserved_vms, p.quota_vms),
                    _quota(p.used_public_ips, p.reserved_public_ips, p.quota_public_ips),
                    _states(p.vm_states),
                )
                for p in r.projects
            ],
        ),  # fmt: skip
        "",
        _("VMs by state: {states}").format(states=_states(r.vm_states)),
        "",
        _("Images and ISO files"),
        table(
            [_("Kind"), _("Cluster"), _("Count"), _("Total"), _("Largest")],
            [
                (
                    _("Images") if s.kind == "image" else _("ISO files"),
                    s.cluster,
                    s.count,
                    human_bytes(s.total_bytes),
                    f"{s.largest_name} ({human_bytes(s.largest_bytes)})" if s.count else "—",
                )
                for s in (*r.storage, r.storage_total("image"), r.storage_total("iso"))
            ],
        ),  # fmt: skip
        "",
        table(
            [_("Size"), _("Images"), _("ISO files")],
            [
                (
                    _(img.label),
                    f"{img.count} ({human_bytes(img.total_bytes)})",
                    f"{iso.count} ({human_bytes(iso.total_bytes)})",
                )
                for img, iso in zip(
                    [c for c in r.size_classes if c.kind == "image"],
                    [c for c in r.size_classes if c.kind == "iso"],
                    strict=True,
                )
            ],
        ),  # fmt: skip
        "",
        _("Operations per day, {since} — {until}: {total} total, {failed} failed ({rate})").format(
            since=r.since.isoformat(),
            until=r.until.isoformat(),
            total=r.ops_total,
            failed=r.ops_failed,
            rate=f"{r.failure_rate:.0%}",
        ),  # fmt: skip
        sparkline([d.total for d in r.days]),
        table(
            [
                _("Kind"),
                _("Total"),
                _("Done"),
                _("Running"),
                _("Failed"),
                _("Compensated"),
                _("Failure rate"),
            ],
            [
                (k.kind, k.total, k.done, k.running, k.failed, k.compensated, f"{k.failure_rate:.0%}")
                for k in r.kinds
            ],
        ),
    ]
    return "\n".join(map(str, out))  # tables among the lines


def _states(states: dict[str, int]) -> str:
    return ", ".join(f"{state} {count}" for state, count in states.items()) or "—"


def _quota(used: int, reserved: int, quota: int) -> str:
    return f"{used}{f'+{reserved}' if reserved else ''}/{quota}"
