"""CLI tables and JSON with the names real clouds hold: shown literally, one row each, exact JSON."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.text import visible
from tests.hostile.names import BIDI, C1_CSI, CLEAR_SCREEN, MARKUP_CLOSE, NEWLINE, OSC_TITLE, RAW_CONTROLS
from tests.kit.cli import ectui, licensed_home


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A console home with a license (2 clusters, 10 nodes, local+shared) from its own issuer."""
    return licensed_home(tmp_path_factory.mktemp("home"), "platform", storage="local,shared")


SEEDED = [
    NEWLINE,
    OSC_TITLE,
    CLEAR_SCREEN,
    BIDI,
    C1_CSI,
    MARKUP_CLOSE,
    "x" * 255,
]  # Glance allows 255 characters


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.05), ftp=False)
    request = urllib.request.Request(
        handle.url + "/_admin/seed/names", data=json.dumps({"names": SEEDED}).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    urllib.request.urlopen(request, timeout=30).close()
    yield handle
    handle.stop()


def test_image_list_shows_each_name_on_its_row_and_json_keeps_the_value(
    home: Path,  # noqa: F811
    cloud: DevCloudHandle,
) -> None:
    auth = cloud.cloud.cloud_config()["auth"]
    added = ectui(home, "cluster", "add", "--name", "hostile", "--auth-url", auth["auth_url"], "--username",
                  "admin", "--password-stdin", "--project", "demo", "--region", "RegionOne", "--storage", "local",
                  stdin=auth["password"] + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert ectui(home, "image", "sync", "hostile").returncode == 0

    listed = ectui(home, "image", "list", "--cluster", "hostile")
    assert listed.returncode == 0, listed.stderr
    for char in RAW_CONTROLS:
        assert char not in listed.stdout
    lines = listed.stdout.splitlines()
    assert len(lines) == 1 + 4 + len(SEEDED), "one header and one line per image: a newline forges no row"
    assert any(visible(NEWLINE) in line for line in lines)
    assert any(visible(OSC_TITLE) in line for line in lines)
    assert any(MARKUP_CLOSE in line for line in lines)
    assert max(len(line) for line in lines) < 250, "a 255-character name is cut in the table"

    raw = ectui(home, "image", "list", "--cluster", "hostile", "--json")
    for char in RAW_CONTROLS:
        assert char not in raw.stdout
    names = {i["name"] for i in json.loads(raw.stdout)["images"]}
    assert set(SEEDED) <= names, "JSON holds the exact names"


def test_an_error_quoting_a_foreign_name_is_one_literal_line(home: Path) -> None:  # noqa: F811
    refused = ectui(home, "cluster", "show", OSC_TITLE + "\nforged")
    assert refused.returncode != 0
    assert "\x1b" not in refused.stderr and "\x07" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
