"""Fixtures of the snapshot tests: one seeded console home per module (fixed names, fixed clock), copied per test."""

from __future__ import annotations

import asyncio
import importlib
import os
import pkgutil
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import pytest_textual_snapshot  # type: ignore[import-untyped]
from sqlalchemy import update

from ectui.db.models import Vm
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.i18n import set_language
from ectui.services import ConsoleServices, build_console_services
from ectui.services.clusters import FtpDraft
from tests.kit import CONSOLE_NOW, Clock, build_licensed_console, home_settings
from tests.kit.vms import draft, vm_env

_TERMINAL_ID = re.compile(r"terminal-\d+")
_serialize = pytest_textual_snapshot.SVGImageExtension.serialize


def _serialize_stable(self: Any, data: Any, **options: Any) -> Any:
    """The SVG with its class prefix fixed: Rich derives it from a hash that varies with invisible style ids."""
    if isinstance(data, str):
        data = _TERMINAL_ID.sub("terminal-0", data)
    return _serialize(self, data, **options)


pytest_textual_snapshot.SVGImageExtension.serialize = _serialize_stable
pytest_textual_snapshot.SVGImageExtension.file_extension = "svg"  # stored as .svg (syrupy's default: .raw)


def _import_screens_in_english() -> None:
    """Import every screen and widget module now, in English.

    Key descriptions (BINDINGS) are translated when their module is imported, and the app imports a
    screen module when it first shows the screen: without this, a frame's footer would depend on the
    language of the first test that showed that screen in this process.
    """
    import ectui.screens
    import ectui.widgets

    set_language("en")
    for package in (ectui.screens, ectui.widgets):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)


_import_screens_in_english()

FEATURES = "platform,statistics,users.audit"
SEED_MTIME = CONSOLE_NOW.timestamp() - 86400
"""The modification time given to the dev cloud's seeded ISO (the listing shows it)."""


@dataclass(frozen=True)
class Seeded:
    """A console home with cluster dc1 (3 nodes, synced images and ISOs), templates, project web and VM web-1."""

    root: Path
    cloud: DevCloudHandle


async def _seed(root: Path, cloud: DevCloudHandle) -> None:
    s = await build_licensed_console(root, storage="local,shared", operator="alice", features=FEATURES)
    try:
        env = await vm_env(s, cloud, root)
        await s.clusters.sync_nodes("dc1")
        ftp = cloud.ftp
        await s.clusters.set_ftp(
            "dc1", FtpDraft(ftp["host"], int(ftp["port"]), ftp["user"], ftp["password"], "/")
        )
        await s.isos.sync("dc1")
        # the detail shows the cloud id: one fixed id (a create retried after a fault gets it again, its
        # first server being gone by then)
        with mock.patch("ectui.devcloud.nova.servers.new_id", lambda: "00000000-0000-4000-8000-000000000001"):
            await s.vms.create(draft(env, name="web-1"))
        vms = await s.vms.list_all()
        assert [v.name for v in vms] == ["web-1"], f"seeded VMs: {[v.name for v in vms]}"
        with s.db.session() as session:  # the detail shows the creation time (taken from the wall clock)
            session.execute(update(Vm).values(created_at=CONSOLE_NOW))
    finally:
        s.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """The seeded home of the module, on its own dev cloud (fast timings; the seeded ISO's time fixed)."""
    root = tmp_path_factory.mktemp("seeded")
    cloud = run_in_thread(root / "cloud", timings=Timings.fast(0.02))
    try:
        for path in cloud.cloud.iso_dir.rglob("*"):
            os.utime(path, (SEED_MTIME, SEED_MTIME))
        asyncio.run(_seed(root, cloud))
        yield Seeded(root, cloud)
    finally:
        cloud.stop()


@pytest.fixture
def seeded_services(seeded: Seeded, tmp_path: Path) -> Iterator[ConsoleServices]:
    """Console services (not started: the app starts them) on a copy of the seeded home, at CONSOLE_NOW."""
    home = tmp_path / "console"
    shutil.copytree(seeded.root / "console", home)
    services = build_console_services(home_settings(home, ECTUI_OPERATOR="alice"), clock=Clock(CONSOLE_NOW))
    yield services
    services.close()


@pytest.fixture
def empty_services(tmp_path: Path) -> Iterator[ConsoleServices]:
    """Console services on an empty home (no license, no cluster), at CONSOLE_NOW."""
    services = build_console_services(home_settings(tmp_path / "empty"), clock=Clock(CONSOLE_NOW))
    yield services
    services.close()


@pytest.fixture(params=["en", "zh_CN"])
def lang(request: pytest.FixtureRequest) -> Iterator[str]:
    """The UI language of the test (English again afterwards)."""
    set_language(request.param)
    try:
        yield request.param
    finally:
        set_language("en")
