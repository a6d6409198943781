"""Helpers of the Pilot tests on a licensed console: building one (real clock, today's license), VM screens and forms.

A helper module (like uikit), not a test module: the UI test modules import from here, never from each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Select

from ectui.devcloud import DevCloudHandle
from ectui.screens.operations import OperationsScreen
from ectui.screens.vms import CreateVmModal, VmDetailModal, VmsScreen
from ectui.services import ConsoleServices
from ectui.services.clusters import ClusterDraft
from ectui.services.projects import ProjectDraft
from ectui.services.templates import TemplateDraft
from ectui.services.vms import VmDraft, VmInfo
from ectui.widgets.literal import Static
from tests.kit import build_licensed_console, today_validity
from tests.kit.ui import domain_key, started, until

PASSWORD = "Secret#123"


async def licensed_services(
    home: Path,
    *,
    max_clusters: str = "2",
    storage: str = "local,shared",
    operator: str | None = None,
    readonly: bool = False,
) -> ConsoleServices:
    """A console on the real clock with a platform license (edition Std, ACME) valid from today for 90 days."""
    validity = today_validity()
    return await build_licensed_console(
        home,
        real_clock=True,
        readonly=readonly,
        operator=operator,
        customer="ACME",
        edition="Std",
        max_clusters=max_clusters,
        max_nodes="10",
        storage=storage,
        features="platform",
        valid_from=validity["valid_from"],
        valid_to=validity["valid_to"],
    )


def cluster_draft(
    cloud: DevCloudHandle, *, storage: str = "shared", production: bool = False
) -> ClusterDraft:
    """Cluster dc1 on the dev cloud's admin credentials."""
    auth = cloud.cloud.cloud_config()["auth"]
    return ClusterDraft.parse(
        name="dc1",
        storage_mode=storage,
        auth_url=auth["auth_url"],
        username=auth["username"],
        password=auth["password"],
        project=auth["project_name"],
        region="RegionOne",
        production=production,
    )


async def images_console(home: Path, cloud: DevCloudHandle) -> ConsoleServices:
    """A console (operator alice, local storage) with the dev cloud as cluster dc1."""
    console = await licensed_services(home, storage="local", operator="alice")
    await console.clusters.add(cluster_draft(cloud, storage="local"))
    return console


async def vm_console(
    home: Path,
    cloud: DevCloudHandle | None,
    *,
    storage: str = "shared",
    project: bool = True,
    production: bool = False,
    readonly: bool = False,
    min_cpu: int = 1,
) -> ConsoleServices:
    """A licensed console; with a cloud: cluster dc1 (nodes, images, templates centos and win), project web in use."""
    console = await licensed_services(home, readonly=readonly)
    cluster = None
    if cloud is not None:
        await console.clusters.add(cluster_draft(cloud, storage=storage, production=production))
        await console.clusters.sync_nodes("dc1")
        await console.images.sync("dc1")
        images = {i.name: i for i in await console.images.list_all()}
        assert {"cirros-0.6.2", "windows-2019-mini"} <= images.keys(), f"dev cloud images: {sorted(images)}"
        await console.templates.create(
            TemplateDraft.parse(
                name="centos", image_id=images["cirros-0.6.2"].id, os_type="linux", min_cpu=min_cpu
            )
        )
        await console.templates.create(
            TemplateDraft.parse(name="win", image_id=images["windows-2019-mini"].id, os_type="windows",
                                min_cpu=2, min_ram_gb=4)
        )  # fmt: skip
        cluster = "dc1"
    if project:
        await console.projects.add(
            ProjectDraft.parse(name="web", vcpus="8", ram_gb="16", vms="5", public_ips="1", cluster=cluster)
        )
        await console.projects.use("web")
    return console


async def open_vms(pilot: Pilot[Any]) -> VmsScreen:
    """Start the app and show the VMs screen with its first list."""
    app = pilot.app
    await started(pilot)
    await pilot.press(domain_key(app, "vms"))
    await until(pilot, lambda: isinstance(app.screen, VmsScreen))
    screen = app.screen
    assert isinstance(screen, VmsScreen)
    await until(pilot, lambda: not any(w.group == "vms-refresh" and not w.is_finished for w in app.workers))
    return screen


async def open_form(pilot: Pilot[Any]) -> CreateVmModal:
    await pilot.press("n")
    await until(  # pushed and composed
        pilot,
        lambda: isinstance(pilot.app.screen, CreateVmModal) and bool(pilot.app.screen.query("#vm-form-box")),
    )
    form = pilot.app.screen
    assert isinstance(form, CreateVmModal)
    return form


def error_text(form: CreateVmModal) -> str:
    return str(form.query_one("#vm-error").render())


def fill(form: CreateVmModal, **values: Any) -> None:
    """Set inputs (str) and selects (other values) by the widget id without its 'vm-' prefix."""
    for key, value in values.items():
        widget = form.query_one(f"#vm-{key.replace('_', '-')}")
        if isinstance(widget, Select):
            widget.value = Select.NULL if value is None else value
        elif isinstance(widget, Input):
            widget.value = value
        else:
            widget.value = value  # type: ignore[attr-defined]


def template_id(form: CreateVmModal, name: str) -> int:
    return next(t.id for t in form.choices.templates if t.name == name)


def fill_valid(form: CreateVmModal, name: str, **extra: Any) -> None:
    values: dict[str, Any] = {"name": name, "template": template_id(form, "centos"), "node": "node-1",
                              "login": "password", "password": PASSWORD, "password_confirm": PASSWORD,
                              "cpu": "1", "ram": "1"}  # fmt: skip
    values.update(extra)
    fill(form, **values)


async def submit_expect(
    pilot: Pilot[Any], form: CreateVmModal, text: str, invalid: str | None = None
) -> None:
    """Ctrl+S and wait until the form shows `text` (and marks the widget `invalid`)."""
    await pilot.press("ctrl+s")
    await until(pilot, lambda: text in error_text(form) and form.run is None)
    assert pilot.app.screen is form
    if invalid is not None:
        assert form.query_one(f"#{invalid}").has_class("-invalid"), invalid


async def made_vm(services: ConsoleServices, name: str, **extra: Any) -> VmInfo:
    choices = await services.vms.form_choices()
    template = next(t.id for t in choices.templates if t.name == "centos")
    fields: dict[str, Any] = {"name": name, "template_id": template, "placement": "manual", "node": "node-2",
                              "login": "password", "password": PASSWORD, "password_confirm": PASSWORD,
                              "cpu": 1, "ram_gb": 1, "network": "private"}  # fmt: skip
    fields.update(extra)
    return await services.vms.create(VmDraft.parse(**fields))


async def open_operations(pilot: Pilot[Any]) -> OperationsScreen:
    """Start the app and show the operations screen once it lists something."""
    app = pilot.app
    await started(pilot)
    await pilot.press(domain_key(app, "operations"))
    await until(pilot, lambda: isinstance(app.screen, OperationsScreen))
    screen = app.screen
    assert isinstance(screen, OperationsScreen)
    await until(pilot, lambda: screen.table.row_count > 0)
    return screen


def detail_text(modal: object) -> str:
    """Everything the VM detail shows: its spec, then its history."""
    assert isinstance(modal, VmDetailModal)
    return "\n".join(
        str(modal.query_one(f"#{part}", Static).content) for part in ("vm-detail-spec", "vm-detail-history")
    )
