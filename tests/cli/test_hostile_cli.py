"""Hostile input through `python -m ectui`: huge or non-ASCII ids, FIFOs and devices as files, a closed stdout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pytest

from ectui.commands._util import MAX_ID, positive_id
from ectui.services.errors import ValidationError

ROOT = Path(__file__).resolve().parents[2]
FAST = pytest.mark.timeout(60)  # each run is instant; a FIFO or /dev/zero read that waited would hit this


def environ(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ECTUI_") and k not in ("LANG", "LC_ALL", "LANGUAGE", "OS_CLOUD")
    }
    env.update({"ECTUI_HOME": str(home), "ECTUI_LANG": "en", "PYTHONIOENCODING": "utf-8"})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def ectui(
    home: Path, *args: object, stdin: IO[Any] | int | None = subprocess.DEVNULL, stdout: Any = subprocess.PIPE
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "ectui", *map(str, args)],
        cwd=ROOT,
        env=environ(home),
        stdin=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=30,
        check=False,
    )


def one_error_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    """stderr is exactly one `ectui: …` line, not a traceback and not an 'unexpected error'."""
    err = proc.stderr.decode("utf-8")
    assert err.count("\n") == 1 and err.startswith("ectui: "), err
    assert "unexpected error" not in err and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------ ids


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("9223372036854775808", "at most 9223372036854775807"),
        ("99999999999999999999999999", "at most"),
        ("9" * 5000, "at most"),  # no int() of thousands of digits, and the echo is shortened
        ("١٢", "whole number"),  # Arabic-Indic digits: int() would take them as 12
        ("１", "whole number"),  # fullwidth
        ("²", "whole number"),  # isdigit() but not int()-able
        ("-3", "at least 1"),
        ("0", "at least 1"),
        ("1_000", "whole number"),
        ("", "whole number"),
    ],
)
def test_positive_id_refuses(value: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        positive_id(value)
    assert err.value.exit_code == 2
    assert fragment in str(err.value)
    assert len(str(err.value)) < 200


def test_positive_id_accepts() -> None:
    assert positive_id("7") == 7
    assert positive_id(" 007 ") == 7
    assert positive_id(str(MAX_ID)) == MAX_ID


@FAST
@pytest.mark.parametrize(
    "args",
    [
        ("issuer", "license", "show", "99999999999999999999"),
        ("issuer", "license", "show", "١٢"),
        ("issuer", "license", "export", "１", "--out", "x.ec", "--properties", "x.properties"),
        ("ops", "show", "9223372036854775808"),
        ("image", "enable", "١٢"),
    ],
    ids=["issuer-huge", "issuer-arabic", "export-fullwidth", "ops-huge", "image-arabic"],
)
def test_bad_ids_are_usage_errors(tmp_path: Path, args: tuple[str, ...]) -> None:
    proc = ectui(tmp_path / "home", *args)
    assert proc.returncode == 2, proc.stderr
    assert "ID" in one_error_line(proc)
    assert proc.stdout == b""


# ------------------------------------------------------------------ files and stdin


@FAST
def test_password_stdin_from_dev_zero_is_refused_at_once(tmp_path: Path) -> None:
    with open("/dev/zero", "rb") as zero:
        proc = ectui(
            tmp_path / "home",
            *("cluster", "add", "--name", "c1", "--auth-url", "http://127.0.0.1:9/v3"),
            *("--username", "admin", "--project", "admin", "--password-stdin"),
            stdin=zero,
        )
    assert proc.returncode == 2, proc.stderr
    assert "--password-stdin" in one_error_line(proc)
    assert "4096" in proc.stderr.decode()


@FAST
def test_keypair_import_from_a_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "key.pub"
    os.mkfifo(fifo)
    proc = ectui(tmp_path / "home", "keypair", "import", "--name", "k1", "--public-key", fifo)
    assert proc.returncode == 2, proc.stderr
    assert str(fifo) in one_error_line(proc)


@FAST
@pytest.mark.parametrize("target", ["/dev/zero", "directory", "big"])
def test_keypair_import_refuses_devices_directories_and_big_files(tmp_path: Path, target: str) -> None:
    big = tmp_path / "big.pub"
    big.write_bytes(b"ssh-ed25519 " + b"A" * 20_000)
    path = {"/dev/zero": "/dev/zero", "directory": str(tmp_path), "big": str(big)}[target]
    proc = ectui(tmp_path / "home", "keypair", "import", "--name", "k1", "--public-key", path)
    assert proc.returncode == 2, proc.stderr
    assert path in one_error_line(proc)


@FAST
def test_license_import_from_fifos_does_not_hang(tmp_path: Path) -> None:
    ec, props = tmp_path / "l.ec", tmp_path / "constant.properties"
    os.mkfifo(ec)
    os.mkfifo(props)
    proc = ectui(tmp_path / "home", "license", "import", ec, "--properties", props)
    assert proc.returncode == 2, proc.stderr
    assert "not a regular file" in one_error_line(proc)


@FAST
def test_license_import_of_dev_zero_is_refused(tmp_path: Path) -> None:
    proc = ectui(tmp_path / "home", "license", "import", "/dev/zero", "--properties", "/dev/zero")
    assert proc.returncode == 2, proc.stderr
    assert "/dev/zero" in one_error_line(proc)


# ------------------------------------------------------------------ a closed stdout (`ectui … | head -1`)


@FAST
@pytest.mark.parametrize(
    "args",
    [("--version",), ("license", "show"), ("license", "show", "--json"), ("issuer", "edition", "list")],
)
def test_stdout_closed_before_writing_exits_quietly(tmp_path: Path, args: tuple[str, ...]) -> None:
    """The reader is gone before ectui writes: the first write fails with EPIPE, every time."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = ectui(tmp_path / "home", *args, stdout=write_end)
    finally:
        os.close(write_end)
    assert proc.stderr == b""
    assert proc.returncode == 141  # as a shell reports git killed by SIGPIPE
    assert (
        not (tmp_path / "home" / "logs" / "ectui.log").exists()
        or b"BrokenPipe" not in (tmp_path / "home" / "logs" / "ectui.log").read_bytes()
    )


@FAST
def test_head_one_of_help(tmp_path: Path) -> None:
    """`ectui --help | head -1`: the first line arrives, then the pipe closes; nothing on stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ectui", "--help"],
        cwd=ROOT,
        env=environ(tmp_path / "home"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    code = proc.wait(timeout=30)
    assert first.startswith(b"usage: ectui")
    assert err == b""
    assert code in (0, 141)
