"""`ectui vm snapshot|mount-iso|unmount-iso` and `ectui settings …` through `python -m ectui`, against the dev cloud."""

from __future__ import annotations

import json
from pathlib import Path

from ectui.devcloud import DevCloudHandle
from tests.kit.cli import ectui, ok
from tests.kit.cloud import sdk
from tests.kit.vms import PASSWORD

HINT = "mkdir isoformount && mount -t auto -o ro /dev/cdrom ./isoformount"


def test_snapshot_mount_unmount_and_the_readonly_setting(home: Path, cloud: DevCloudHandle) -> None:  # noqa: F811
    ok(ectui(home, "project", "use", "web"))
    ok(ectui(home, "vm", "create", "--name", "x1", "--template", "cirros", "--cpu", "1", "--ram", "1",
             "--network", "private", "--password-stdin", "--node", "node-3", stdin=PASSWORD + "\n"))  # fmt: skip
    made = json.loads(ok(ectui(home, "vm", "snapshot", "x1", "--template-name", "gold", "--json")).stdout)
    assert made["template"] == "gold" and made["kind"] == "custom"
    templates = json.loads(ok(ectui(home, "template", "list", "--json")).stdout)
    assert any(t["name"] == "gold" and t["kind"] == "custom" for t in templates["templates"])

    # the ISO of the dev cloud's share, as an ISO sync would record it
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{home / 'data' / 'console.db'}")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO iso_file (cluster_id, file_name, name, size, modified_at, os_type, description, source,"
            " enabled, gone, mount_count, uploaded_by, synced_at)"
            " VALUES (1, 'virtio-tools.iso', 'virtio-tools', 0, '', '', '', 'uploaded', 1, 0, 0, '', CURRENT_TIMESTAMP)"
        ))  # fmt: skip
    engine.dispose()
    mounted = ok(ectui(home, "vm", "mount-iso", "x1", "virtio-tools"))
    assert HINT in mounted.stdout
    shown = json.loads(ok(ectui(home, "vm", "show", "x1", "--json")).stdout)
    assert shown["mounted_iso"] == "virtio-tools"
    busy = ectui(home, "iso", "delete", "1")
    assert busy.returncode == 1 and "mounted on 1 VM" in busy.stderr
    assert json.loads(ok(ectui(home, "vm", "unmount-iso", "x1", "--json")).stdout)["mounted_iso"] is None

    # upstream Nova: stable rescue, only with --yes
    cloud.cloud.vendor_extensions = ()
    try:
        sdk(cloud).image.create_image("virtio-tools.iso", data=b"CD001" * 10, disk_format="iso",
                                      container_format="bare", allow_duplicates=True, hw_rescue_device="cdrom")  # fmt: skip
        ask = ectui(home, "vm", "mount-iso", "x1", "virtio-tools")
        assert ask.returncode == 1 and "reboots VM x1" in ask.stderr and "--yes" in ask.stderr
        rescued = json.loads(
            ok(ectui(home, "vm", "mount-iso", "x1", "virtio-tools", "--yes", "--json")).stdout
        )
        assert rescued["method"] == "rescue" and rescued["hint"] == HINT
        ok(ectui(home, "vm", "unmount-iso", "x1"))
    finally:
        cloud.cloud.vendor_extensions = ("EC-LIVE-RESIZE", "EC-CDROM")

    # the operator's read-only setting
    assert json.loads(ok(ectui(home, "settings", "show", "--json")).stdout)["readonly"] is False
    ok(ectui(home, "settings", "readonly", "on"))
    refused = ectui(home, "vm", "stop", "x1")
    assert refused.returncode != 0 and "ectui settings readonly off" in refused.stderr
    assert json.loads(ok(ectui(home, "settings", "show", "--json")).stdout)["readonly"] is True
    ok(ectui(home, "settings", "readonly", "off"))
    ok(ectui(home, "vm", "delete", "x1"))
