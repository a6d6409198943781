"""VMs screen extras against the real dev cloud: snapshot to a custom template (an app job), mount/unmount an ISO
(CD-ROM extension, and stable rescue after a confirmation), the operator's read-only setting in the banner."""

# ruff: noqa: F811  (pytest fixtures imported from the sibling module are redefined as parameters)

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from uikit import domain_key, notifications, until
from vmkit import detail_text, made_vm, open_vms, vm_console

from ectui.app import ConsoleApp
from ectui.db.models import IsoFile
from ectui.devcloud import DevCloudHandle
from ectui.screens.templates import TemplatesScreen
from ectui.screens.vms import IsoMountedModal, PickIsoModal, SnapshotTemplateModal, VmDetailModal
from ectui.services import ConsoleServices
from ectui.widgets import ConfirmModal

HINT = "mkdir isoformount && mount -t auto -o ro /dev/cdrom ./isoformount"


@pytest.fixture
async def services(tmp_path: Path, cloud: DevCloudHandle) -> AsyncIterator[ConsoleServices]:  # noqa: F811
    cloud.cloud.vendor_extensions = ("EC-LIVE-RESIZE", "EC-CDROM")
    console = await vm_console(tmp_path, cloud)
    yield console
    console.close()
    cloud.cloud.vendor_extensions = ("EC-LIVE-RESIZE", "EC-CDROM")


def add_iso(services: ConsoleServices, file_name: str = "virtio-tools.iso") -> int:
    with services.db.session() as session:
        row = IsoFile(cluster_id=1, file_name=file_name, name=file_name[:-4], source="uploaded", enabled=True)
        session.add(row)
        session.flush()
        return row.id


async def test_snapshot_to_a_custom_template_runs_as_a_job_and_shows_in_templates_and_the_form(
    services: ConsoleServices,
) -> None:
    await made_vm(services, "alpha")
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, SnapshotTemplateModal))
        app.screen.query_one("#snapshot-name").value = "golden"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen)
        await until(
            pilot, lambda: any("Custom template golden made from alpha" in n for n in notifications(app))
        )
        assert any(j.title.startswith("Snapshot alpha") and j.state == "done" for j in app.jobs.all())
        choices = await services.vms.form_choices()
        assert [(t.name, t.kind) for t in choices.templates if t.kind == "custom"] == [("golden", "custom")]
        await pilot.press(domain_key(app, "templates"))
        await until(pilot, lambda: isinstance(app.screen, TemplatesScreen))
        templates = app.screen
        assert isinstance(templates, TemplatesScreen)
        await until(pilot, lambda: templates.table.row_count == 3)
        rows = [[str(c) for c in templates.table.get_row(r.key)] for r in templates.table.ordered_rows]
        assert ["golden", "Custom"] in [row[:2] for row in rows]


async def test_mount_shows_the_guest_hint_and_unmount_confirms(services: ConsoleServices) -> None:
    await made_vm(services, "alpha")
    add_iso(services)
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, PickIsoModal))
        await pilot.press("enter")
        await until(  # pushed and composed
            pilot,
            lambda: isinstance(app.screen, IsoMountedModal) and bool(app.screen.query("#iso-mount-hint")),
        )
        assert str(app.screen.query_one("#iso-mount-hint").render()) == HINT
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, VmDetailModal))
        assert "Mounted ISO  virtio-tools" in detail_text(app.screen)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen and screen.selected_vm() is not None)
        await until(pilot, lambda: screen.selected_vm().mounted_iso == "virtio-tools")  # type: ignore[union-attr]
        await pilot.press("M")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await until(pilot, lambda: any("ISO unmounted from alpha" in n for n in notifications(app)))
    assert (await services.vms.list_all())[0].mounted_iso is None


async def test_rescue_path_asks_before_the_vm_reboots(
    services: ConsoleServices, cloud: DevCloudHandle
) -> None:  # noqa: F811
    cloud.cloud.vendor_extensions = ()
    await made_vm(services, "alpha")
    add_iso(services)
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, PickIsoModal))
        await pilot.press("enter")  # no Glance image of the ISO: said clearly
        await until(pilot, lambda: any("needs a Glance image of the ISO" in n for n in notifications(app)))
        assert app.screen is screen
        import openstack.config
        import openstack.connection

        config = openstack.config.OpenStackConfig(config_files=[str(cloud.clouds_yaml)])
        conn = openstack.connection.Connection(config=config.get_one(cloud="devcloud"))
        conn.image.create_image("virtio-tools.iso", data=b"CD001" * 10, disk_format="iso",
                                container_format="bare", allow_duplicates=True, hw_rescue_device="cdrom")  # fmt: skip
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, PickIsoModal))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "reboots VM alpha" in app.screen.question  # type: ignore[attr-defined]
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, IsoMountedModal), timeout=30)
    vm = (await services.vms.list_all())[0]
    assert vm.mounted_iso == "virtio-tools" and conn.compute.get_server(vm.cloud_id).status == "RESCUE"


async def test_operator_readonly_setting_shows_in_the_banner(services: ConsoleServices) -> None:
    await services.operator_settings.set_readonly(True)
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_vms(pilot)
        assert "Read-only mode is on for operator" in app.readonly_reason
        await pilot.press("t")
        await until(pilot, lambda: any("Read-only" in n for n in notifications(app)))
        assert app.screen is screen
