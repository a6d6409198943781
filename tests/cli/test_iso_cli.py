"""`ectui iso …` through the real entry point, against a pyftpdlib server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kit.cli import ectui, licensed_home
from tests.kit.ftp import PASSWORD, USER, PyFtpd

MIB = 1 << 20


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A console home with a license (2 clusters, 10 nodes, local+shared) from its own issuer."""
    return licensed_home(tmp_path_factory.mktemp("home"), "platform", storage="local,shared")


@pytest.fixture(scope="module")
def pyftpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PyFtpd]:
    server = PyFtpd(tmp_path_factory.mktemp("share"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(home: Path, pyftpd: PyFtpd) -> tuple[Path, str]:  # noqa: F811
    added = ectui(home, "cluster", "add", "--name", "isodc", "--auth-url", "http://127.0.0.1:9/v3", "--username",
                  "u", "--password-stdin", "--project", "p", "--storage", "local", stdin="p\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    ftp = ectui(home, "cluster", "ftp", "isodc", "--host", "127.0.0.1", "--port", pyftpd.port, "--user", USER,
                "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert ftp.returncode == 0, ftp.stderr
    return home, "isodc"


def test_sync_list_upload_edit_enable_delete(
    cluster: tuple[Path, str], pyftpd: PyFtpd, tmp_path: Path
) -> None:
    console, name = cluster
    (pyftpd.root / "synced.iso").write_bytes(b"s" * 2048)
    synced = ectui(console, "iso", "sync", name, "--json")
    assert synced.returncode == 0, synced.stderr
    data = json.loads(synced.stdout)
    assert data["added"] >= 1 and "synced.iso" in {i["file"] for i in data["isos"]}
    src = tmp_path / "tools.iso"
    src.write_bytes(bytes(range(256)) * 8192)
    up = ectui(
        console, "iso", "upload", src, "--cluster", name, "--name", "Tools", "--os-type", "windows", "--json"
    )
    assert up.returncode == 0, up.stderr
    iso = json.loads(up.stdout)
    assert (iso["name"], iso["file"], iso["source"], iso["os_type"]) == (
        "Tools",
        "tools.iso",
        "uploaded",
        "windows",
    )
    assert iso["size"] == src.stat().st_size and (pyftpd.root / "tools.iso").read_bytes() == src.read_bytes()
    assert up.stderr == ""  # not a terminal: no progress line
    listed = json.loads(ectui(console, "iso", "list", "--cluster", name, "--json").stdout)["isos"]
    assert {i["file"] for i in listed} >= {"synced.iso", "tools.iso"}
    text = ectui(console, "iso", "list").stdout
    assert "Tools" in text and "uploaded" in text

    edited = ectui(console, "iso", "edit", iso["id"], "--description", "virtio drivers", "--json")
    assert json.loads(edited.stdout)["description"] == "virtio drivers"
    bad = ectui(console, "iso", "edit", iso["id"], "--os-type", "plan9")
    assert bad.returncode == 2 and "OS type" in bad.stderr
    assert json.loads(ectui(console, "iso", "disable", iso["id"], "--json").stdout)["enabled"] is False
    assert "enabled" in ectui(console, "iso", "enable", iso["id"]).stdout

    synced_id = next(i["id"] for i in listed if i["file"] == "synced.iso")
    refused = ectui(console, "iso", "delete", synced_id)
    assert refused.returncode == 1 and "synced from the FTP server" in refused.stderr
    deleted = ectui(console, "iso", "delete", iso["id"], "--json")
    assert deleted.returncode == 0 and not (pyftpd.root / "tools.iso").exists()
    missing = ectui(console, "iso", "enable", "9999")
    assert missing.returncode == 1 and "No ISO file with id 9999" in missing.stderr
    not_iso = tmp_path / "disk.img"
    not_iso.write_bytes(b"x")
    refused_file = ectui(console, "iso", "upload", not_iso, "--cluster", name)
    assert refused_file.returncode == 2 and "must end in .iso" in refused_file.stderr


def test_an_interrupted_upload_is_resumed(cluster: tuple[Path, str], pyftpd: PyFtpd, tmp_path: Path) -> None:
    console, name = cluster
    src = tmp_path / "big.iso"
    src.write_bytes(bytes(range(256)) * (16 * 4096 + 3))  # 16 MiB + 768 B
    size = src.stat().st_size
    pyftpd.drop_after = 4 * MIB
    cut = ectui(console, "iso", "upload", src, "--cluster", name)
    assert cut.returncode == 1 and "ectui iso resume" in cut.stderr
    assert not (pyftpd.root / "big.iso").exists()
    uploads = json.loads(ectui(console, "iso", "uploads", "--json").stdout)["uploads"]
    assert [u["file"] for u in uploads] == ["big.iso"]
    pyftpd.received = 0
    resumed = ectui(console, "iso", "resume", uploads[0]["id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert (
        result["resumed_from"] >= 4 * MIB
        and result["sent"] == size - result["resumed_from"] == pyftpd.received
    )
    assert (pyftpd.root / "big.iso").read_bytes() == src.read_bytes()
    assert json.loads(ectui(console, "iso", "uploads", "--json").stdout)["uploads"] == []
