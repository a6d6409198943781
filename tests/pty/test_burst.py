"""The real `ectui` in a pseudo-terminal: keys written in one burst (as over SSH) reach the dialog they were
typed for, in order. Reads the screen with pyte; waits on what it shows, never sleeps blindly."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ectui.config import Settings
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.services import build_console_services, build_issuer_services
from ectui.services.clusters import ClusterDraft
from ectui.services.issuer import EditionDraft, LicenseDraft
from ectui.services.projects import ProjectDraft
from ectui.services.templates import TemplateDraft
from ectui.services.vms import VmDraft

ptyprocess = pytest.importorskip("ptyprocess")
pyte = pytest.importorskip("pyte")

COLUMNS, LINES = 100, 30
PASSWORD = "Secret#123"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


def settings_for(home: Path) -> Settings:
    return Settings.from_env({"ECTUI_HOME": str(home), "ECTUI_LANG": "en"})


async def build_home(home: Path, cloud: DevCloudHandle) -> Path:
    """A licensed console with cluster dc1, template centos, project web in use and one VM: its ECTUI_HOME."""
    issuer = build_issuer_services(settings_for(home / "issuer"))
    await issuer.start()
    try:
        await issuer.issuer.create_edition(
            EditionDraft.parse(name="Std", max_clusters="2", max_nodes="10", storage="local,shared",
                               features="platform")
        )  # fmt: skip
        today = dt.date.today()
        lic = await issuer.issuer.create_license(
            LicenseDraft.parse(customer="ACME", edition="Std", valid_from=today.isoformat(),
                               valid_to=(today + dt.timedelta(days=90)).isoformat())
        )  # fmt: skip
        exported = await issuer.issuer.export_license(lic.id, home / "a.ec", home / "a.properties")
    finally:
        issuer.close()
    console = build_console_services(settings_for(home / "console"))
    await console.start()
    try:
        await console.license.import_license(exported.ec_path, exported.properties_path)
        auth = cloud.cloud.cloud_config()["auth"]
        await console.clusters.add(
            ClusterDraft.parse(name="dc1", storage_mode="shared", auth_url=auth["auth_url"],
                               username=auth["username"], password=auth["password"],
                               project=auth["project_name"], region="RegionOne")
        )  # fmt: skip
        await console.clusters.sync_nodes("dc1")
        await console.images.sync("dc1")
        image = next(i for i in await console.images.list_all() if i.name == "cirros-0.6.2")
        await console.templates.create(TemplateDraft.parse(name="centos", image_id=image.id, os_type="linux"))
        await console.projects.add(
            ProjectDraft.parse(name="web", vcpus="8", ram_gb="16", vms="5", public_ips="1", cluster="dc1")
        )
        await console.projects.use("web")
        choices = await console.vms.form_choices()
        await console.vms.create(
            VmDraft.parse(name="old1", template_id=choices.templates[0].id, placement="manual", node="node-2",
                          login="password", password=PASSWORD, password_confirm=PASSWORD, cpu=1, ram_gb=1,
                          network="private")
        )  # fmt: skip
    finally:
        console.close()
    return home / "console"


class Terminal:
    """ectui in a pty, its output fed to a pyte screen."""

    def __init__(self, process: object) -> None:
        self.process = process
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def pump(self, timeout: float) -> None:
        """Feed what the app wrote within `timeout` seconds to the screen."""
        fd = self.process.fd  # type: ignore[attr-defined]
        ready, _w, _x = select.select([fd], [], [], timeout)
        if ready:
            with contextlib.suppress(OSError):  # the app ended
                self.stream.feed(os.read(fd, 65536))

    def wait_for(self, condition: Callable[[str], bool], what: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if condition(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed {what}:\n{text}")
            self.pump(0.05)

    def write(self, data: str) -> None:
        """One write() of all the keys: they arrive in one read, like a burst over SSH."""
        os.write(self.process.fd, data.encode())  # type: ignore[attr-defined]


@pytest.fixture
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.05))
    yield handle
    handle.stop()


@pytest.fixture
def terminal(tmp_path: Path, cloud: DevCloudHandle) -> Iterator[Terminal]:
    home = asyncio.run(build_home(tmp_path, cloud))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "TERM": "xterm-256color",
        "LC_ALL": "C.UTF-8",
        "ECTUI_HOME": str(home),
        "ECTUI_LANG": "en",
    }
    try:
        process = ptyprocess.PtyProcess.spawn(
            [sys.executable, "-m", "ectui"], cwd=str(ROOT), env=env, dimensions=(LINES, COLUMNS)
        )
    except OSError as err:
        pytest.skip(f"no pseudo-terminal here: {err}")
    try:
        yield Terminal(process)
    finally:
        process.terminate(force=True)


def line_with(text: str, label: str) -> str:
    return next((line for line in text.splitlines() if label in line), "")


def test_keys_typed_ahead_go_to_the_new_vm_form_in_order(terminal: Terminal) -> None:
    terminal.wait_for(lambda t: "VMs" in t and "License" in t, "the sidebar")
    terminal.write("2")
    terminal.wait_for(lambda t: "old1" in t, "the VM list with old1")
    # n opens the form after loading its choices; 'fastvm' holds s (start), t (snapshot), a, m: list keys
    terminal.write("nfastvm")
    text = terminal.wait_for(lambda t: "fastvm" in line_with(t, "Name *"), "the name field with fastvm")
    assert "New VM in project web" in text
    # name done: template, node, login (selects), then password, confirm and CPU, all in one write
    terminal.write("\t\t\t\tPassw0rd!x\tPassw0rd!x\t2")
    text = terminal.wait_for(lambda t: "2" in line_with(t, "CPU cores *"), "CPU 2")
    assert line_with(text, "Password *").count("•") == len("Passw0rd!x"), text
    assert line_with(text, "Confirm *").count("•") == len("Passw0rd!x"), text
    assert "fastvm" in line_with(text, "Name *")
    terminal.write("\x1b")  # Esc closes the form: no other dialog behind it, and 'a' did not reach the list
    text = terminal.wait_for(lambda t: "New VM in project" not in t and "old1" in t, "the list again")
    assert "VMs · project web" in text and "all projects" not in text, text
