"""Foreign text on every screen: names from the cloud, the FTP server, the audit log and fault messages.

The dev cloud is seeded with nodes, images, projects and ISOs named like the names real clouds hold
(markup, escape sequences, line breaks, bidi overrides). Every domain of a fully licensed console is
opened, with details where a screen has them, and each must show the names literally: no crash, no
markup action or style, no raw control character in what is drawn.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable
from uikit import notifications, settings_for, settle, started, until

from ectui.app import ConsoleApp
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.screens._base import DomainScreen
from ectui.services import ConsoleServices, build_console_services, build_issuer_services
from ectui.services.clusters import ClusterDraft, FtpDraft
from ectui.services.errors import ServiceError
from ectui.services.projects import ProjectDraft
from ectui.services.templates import TemplateDraft
from ectui.services.users import UserDraft
from ectui.services.vms import VmDraft
from ectui.widgets.tables import table_rows
from tests.hostile.names import (
    MARKUP_CLICK,
    MARKUP_CLOSE,
    MARKUP_STYLE,
    NAMES,
    OSC_TITLE,
    RAW_CONTROLS,
    shown,
)
from tests.kit import issue_license
from tests.kit.cloud import admin_call


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.05))
    admin_call(handle, "POST", "/_admin/seed/names", {"names": list(NAMES)})
    yield handle
    handle.stop()


@pytest.fixture
async def services(tmp_path: Path, cloud: DevCloudHandle) -> AsyncIterator[ConsoleServices]:
    issuer = build_issuer_services(settings_for(tmp_path / "issuer"))
    await issuer.start()
    today = dt.date.today()
    try:
        issued = await issue_license(
            issuer.issuer, tmp_path / "lic", edition="All", max_nodes="40", storage="local,shared",
            features="platform,statistics,users,workflow,billing",
            valid_from=(today - dt.timedelta(days=1)).isoformat(),
            valid_to=(today + dt.timedelta(days=90)).isoformat(),
        )  # fmt: skip
    finally:
        issuer.close()
    console = build_console_services(settings_for(tmp_path / "console"))
    await console.start()
    await console.license.import_license(issued.ec_path, issued.properties_path)
    auth = cloud.cloud.cloud_config()["auth"]
    await console.clusters.add(
        ClusterDraft.parse(name="dc1", storage_mode="shared", auth_url=auth["auth_url"],
                           username=auth["username"], password=auth["password"],
                           project=auth["project_name"], region="RegionOne")
    )  # fmt: skip
    ftp = cloud.ftp
    await console.clusters.set_ftp(
        "dc1", FtpDraft.parse(host=ftp["host"], port=ftp["port"], username=ftp["user"],
                              password=ftp["password"], iso_dir=ftp["dir"])
    )  # fmt: skip
    await console.clusters.sync_nodes("dc1")
    await console.images.sync("dc1")
    await console.isos.sync("dc1")
    image = next(i for i in await console.images.list_all() if i.name == MARKUP_CLOSE)
    for name in (MARKUP_CLOSE, MARKUP_CLICK, OSC_TITLE):
        await console.templates.create(
            TemplateDraft.parse(name=name, image_id=image.id, os_type="linux", description=MARKUP_STYLE)
        )
    await console.projects.add(
        ProjectDraft.parse(name="web", vcpus="8", ram_gb="16", vms="5", public_ips="1", cluster="dc1",
                           description=MARKUP_CLICK)
    )  # fmt: skip
    await console.projects.use("web")
    choices = await console.vms.form_choices()
    template = next(t.id for t in choices.templates if t.name == MARKUP_CLICK)
    await console.vms.create(  # a VM on the node named '[/]anon', from the template named like a click
        VmDraft.parse(name="vm1", template_id=template, placement="manual", node=MARKUP_CLOSE,
                      login="password", password="Secret#123", password_confirm="Secret#123",
                      cpu=1, ram_gb=1, network="private")
    )  # fmt: skip
    await console.users.add(UserDraft.parse(name="boss", role="admin", password="Secret#123456"))
    with pytest.raises(ServiceError):  # audited as a failed login under the name given
        await console.users.login(MARKUP_CLOSE + OSC_TITLE, "wrong")
    await console.users.login("boss", "Secret#123456")
    yield console
    console.close()


def drawn(app: ConsoleApp) -> tuple[str, list[Any]]:
    """What the screen draws now: its text, and the styles of every segment."""
    update = app.screen._compositor.render_full_update()
    lines, styles = [], []
    for strip in update.strips:
        for strip_line in [strip] if hasattr(strip, "text") else strip:
            lines.append(strip_line.text)
            styles.extend(segment.style for segment in strip_line if segment.style is not None)
    return "\n".join(lines), styles


def assert_literal(app: ConsoleApp, where: str) -> str:
    text, styles = drawn(app)
    for char in RAW_CONTROLS:
        assert char not in text, f"{where}: a raw control character {char!r} reached the terminal"
    for style in styles:
        meta = style.meta if style else {}
        assert "@click" not in meta, f"{where}: markup from foreign text became a click action"
        if style and style.bold and style.color is not None and style.color.name == "red":
            raise AssertionError(f"{where}: foreign markup styled a cell bold red")
    return text


async def shown_on(pilot: Pilot[Any], app: ConsoleApp, where: str, needle: str) -> str:
    """The screen's text once it shows `needle` (rows arrive from workers and refresh); every frame looked
    at must be literal."""
    frames: list[str] = []

    def shows() -> bool:
        # what is drawn must be literal; the name must be drawn or, in a column the table has not widened
        # yet, be in the table's cells
        cells = " ".join(" ".join(row) for table in app.screen.query(DataTable) for row in table_rows(table))
        frames.append(assert_literal(app, where) + "\n" + cells)
        return needle in frames[-1]

    try:
        await until(pilot, shows)
    except AssertionError:
        raise AssertionError(f"{where}: {needle!r} never shown; last frame:\n{frames[-1]}") from None
    return frames[-1]


async def visit(pilot: Pilot[Any], app: ConsoleApp, domain: str) -> DomainScreen:
    app.switch_mode(domain)
    await settle(pilot, lambda: isinstance(app.screen, DomainScreen) and app.screen.id != "_default")
    await settle(pilot)
    assert app.is_running and app.return_code is None, f"{domain}: the console stopped"
    assert isinstance(app.screen, DomainScreen), f"{domain}: {app.screen!r} instead of the domain screen"
    return app.screen


async def test_every_screen_shows_foreign_names_literally(services: ConsoleServices) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(160, 50)) as pilot:
        await started(pilot)
        seen: dict[str, str] = {}
        domains = [d.id for d in app.visible_domains()]
        assert {"nodes", "images", "isos", "templates", "projects", "audit", "vms"} <= set(domains)
        expected = {"nodes": shown(OSC_TITLE), "images": MARKUP_STYLE, "isos": f"{MARKUP_STYLE}.iso",
                    "templates": MARKUP_CLICK, "audit": MARKUP_CLOSE, "vms": "vm1"}  # fmt: skip
        for domain in domains:
            await visit(pilot, app, domain)
            seen[domain] = await shown_on(pilot, app, domain, expected.get(domain, ""))
        # the names are there, as the characters they hold
        assert shown(MARKUP_CLOSE) in seen["nodes"]
        assert shown(OSC_TITLE) in seen["nodes"]
        assert MARKUP_STYLE in seen["images"] and shown(OSC_TITLE) in seen["images"]
        assert f"{MARKUP_STYLE}.iso" in seen["isos"]  # a name with a slash cannot be a file name
        assert MARKUP_CLICK in seen["templates"]
        assert MARKUP_CLOSE in seen["audit"], seen["audit"]
        assert "vm1" in seen["vms"] and MARKUP_CLOSE in seen["vms"]  # the VM's node
        # an ISO sync says which listing entries it left out (names with control characters)
        app.switch_mode("isos")
        await settle(pilot)
        await pilot.press("s")
        await until(pilot, lambda: any("skipped" in n for n in notifications(app)))
        assert_literal(app, "ISO sync notification")
        # details open and show the names too
        app.switch_mode("images")
        await settle(pilot)
        await pilot.press("slash")
        await pilot.press(*"anon", "enter")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot, lambda: not isinstance(app.screen, DomainScreen))
        assert MARKUP_CLOSE in assert_literal(app, "image detail")
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, DomainScreen))
        assert app.is_running


async def test_fault_messages_from_the_cloud_are_shown_literally(
    services: ConsoleServices, cloud: DevCloudHandle
) -> None:
    message = f"{MARKUP_CLOSE} {MARKUP_CLICK} {OSC_TITLE}"
    app = ConsoleApp(services)
    async with app.run_test(size=(160, 50)) as pilot:
        await started(pilot)
        await visit(pilot, app, "clusters")
        fault = {"op": "compute.list_hypervisors", "times": 0, "status": 500, "message": message}
        admin_call(cloud, "POST", "/_admin/faults", fault)
        try:
            await pilot.press("s")  # sync nodes: the cloud answers 500 with that message
            await until(pilot, lambda: any("pwned" in n for n in notifications(app)))
        finally:
            admin_call(cloud, "DELETE", "/_admin/faults")
        shown_text = next(n for n in notifications(app) if "pwned" in n)
        assert MARKUP_CLOSE in shown_text and MARKUP_CLICK in shown_text and "\x1b" not in shown_text
        assert app.is_running
        assert_literal(app, "fault notification")
