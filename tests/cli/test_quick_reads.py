"""The quick reads (ectui.db.reads, behind `vm list` and `image list` without --refresh) give exactly what
the services give, on SQLite and PostgreSQL: every field, the order, locks, mounted ISOs and templates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ectui.config import Settings
from ectui.db import reads
from ectui.db.session import Database


def _settings(tmp_path: Path, db_url: str) -> Settings:
    env = {"ECTUI_HOME": str(tmp_path / "home"), "ECTUI_LANG": "en", "ECTUI_OPERATOR": "quick"}
    return Settings.from_env(env).with_changes(db_url=db_url)


def _fill(db: Database) -> None:
    """Two clusters, two projects (one current), VMs with each kind of lock, a template, an ISO, images."""
    from ectui.db import models as m

    when = dt.datetime(2030, 5, 6, 7, 8, 9, 123456)
    with db.session() as s:
        for cid, name in ((1, "dc2"), (2, "dc1")):
            s.add(m.Cluster(id=cid, name=name, cloud_name=name, auth_url="http://x", username="u", password=b"p",
                            project_name="p", region="R"))  # fmt: skip
        s.flush()
        s.add_all([m.Project(id=1, name="web", cluster_id=1), m.Project(id=2, name="db", cluster_id=2)])
        s.add(m.Image(id=1, cluster_id=1, cloud_id="i1", name="zeta", disk_format="qcow2", container_format="bare",
                      size=5, status="active", source="synced", enabled=True, gone=False, synced_at=when,
                      cloud_created_at="2030-01-01T00:00:00Z"))  # fmt: skip
        s.add(m.Image(id=2, cluster_id=2, cloud_id="i2", name="alpha", disk_format="raw", container_format="bare",
                      size=7, status="killed", source="uploaded", enabled=False, gone=True, synced_at=when))  # fmt: skip
        s.add(m.Image(id=3, cluster_id=1, cloud_id="i3", name="alpha", disk_format="iso", container_format="bare",
                      size=9, status="active", source="synced", synced_at=when))  # fmt: skip
        s.flush()
        s.add(m.Template(id=1, cluster_id=1, image_id=1, image_cloud_id="i1", kind="system", name="cirros"))
        s.add(m.IsoFile(id=1, cluster_id=1, file_name="r.iso", name="rescue", size=1, synced_at=when))
        s.add(m.Operation(id=7, kind="resize"))
        s.flush()
        s.add_all(
            [
                m.Vm(id=1, cluster_id=1, project_id=1, cloud_id="a", name="b-vm", template_id=1, status="ACTIVE",
                     created_at=when, locked_by_operation=7),
                m.Vm(id=2, cluster_id=1, project_id=1, cloud_id="b", name="a-vm", mounted_iso_id=1,
                     nova_locked=True, task_state="rebooting", floating_ip="1.2.3.4", created_at=when),
                m.Vm(id=3, cluster_id=2, project_id=2, cloud_id="c", name="a-vm", created_at=when,
                     locked_by_operation=99),
                m.Vm(id=4, cluster_id=2, project_id=None, cloud_id=None, name="c-vm", created_at=when),
            ]
        )  # fmt: skip
        s.add(m.ConsoleState(key="current_project:quick", value="web"))


async def test_quick_reads_match_the_services(tmp_path: Path, db_url: str) -> None:
    from ectui.services import build_console_services

    settings = _settings(tmp_path, db_url)
    services = build_console_services(settings)
    try:
        await services.start(recover=False)
        _fill(services.db)
        mine = [v.to_json() for v in await services.vms.list_all()]
        every = [v.to_json() for v in await services.vms.list_all(all_projects=True)]
        images = [i.to_json() for i in await services.images.list_all()]
        dc1 = [i.to_json() for i in await services.images.list_all("dc1")]
    finally:
        services.close()
    from ectui.commands.images import IMAGE_COLUMNS
    from ectui.commands.vms import VM_COLUMNS

    assert tuple(every[0]) == VM_COLUMNS and tuple(images[0]) == IMAGE_COLUMNS  # -c is checked against these
    db = reads.open_current(settings.console_db_url, "console", busy_timeout=5, create_dir=False)
    assert db is not None
    try:
        project = reads.current_project(db, "quick")
        assert project == 1 and reads.current_project(db, "nobody") is None
        assert reads.vms(db, project) == mine and [v["name"] for v in mine] == ["a-vm", "b-vm"]
        assert reads.vms(db, None) == every and len(every) == 4
        assert {v["lock_reason"] for v in every} >= {"operation #7 (resize)", "operation #99 (?)", "nova"}
        assert reads.images(db, None) == images and len(images) == 3
        assert reads.images(db, reads.cluster_id(db, " dc1 ")) == dc1 and len(dc1) == 1
        assert reads.cluster_id(db, "nowhere") is None
        now = dt.datetime(2031, 1, 1)
        reads.mark_clock(db, now)
        reads.mark_clock(db, now - dt.timedelta(days=1))  # never back
        with db.engine.connect() as connection:
            assert reads._last_seen(connection) == now
    finally:
        db.dispose()


def test_a_database_to_migrate_is_not_read_quickly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert reads.open_current(url, "console", busy_timeout=5, create_dir=False) is None


def test_the_clock_mark_is_the_license_services(tmp_path: Path) -> None:
    from ectui.services import license

    assert reads.LAST_SEEN_KEY == license._LAST_SEEN
    assert reads.CLOCK_MARK_STEP == license.CLOCK_MARK_STEP


def test_completion_kinds_are_the_quick_reads_kinds() -> None:
    from ectui.commands import completion

    assert completion.NAME_KINDS == reads.NAME_KINDS


def test_an_unknown_column_is_refused_before_the_database_opens(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ECTUI_")}
    env.update({"ECTUI_HOME": str(tmp_path), "ECTUI_LANG": "en"})
    for args in (("vm", "list", "-c", "nope"), ("image", "list", "--sort-column", "nope")):
        proc = subprocess.run(
            [sys.executable, "-m", "ectui", *args], env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 2 and "no column 'nope'" in proc.stderr, proc.stderr
    assert not (tmp_path / "data").exists()  # no database made, nothing read


def test_a_command_parses_with_its_branch_of_the_tree_alone() -> None:
    from ectui.commands.tree import MODULE_OF_COMMAND, build_parser, command_module

    def branches(parser: object) -> dict[str, object]:
        import argparse

        [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # type: ignore[attr-defined]
        return dict(action.choices)

    whole = branches(build_parser())
    assert set(whole) == {*MODULE_OF_COMMAND, "devcloud"}
    for word in MODULE_OF_COMMAND:
        argv = ["--lang", "en", "--readonly", "--db-url=sqlite://", word]
        assert command_module(argv) == MODULE_OF_COMMAND[word]
        alone = branches(build_parser(argv))
        assert word in alone and "devcloud" not in alone
        assert alone[word].format_help() == whole[word].format_help()  # type: ignore[attr-defined]
    for unsure in (["--help", "vm"], ["--db", "x", "vm"], ["-x", "vm"], ["devcloud"], ["nope"], []):
        assert command_module(unsure) is None
    parsed = build_parser(["vm", "list", "--all"]).parse_args(["vm", "list", "--all"])
    assert parsed == build_parser().parse_args(["vm", "list", "--all"])
