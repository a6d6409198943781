"""Console log, serial console and noVNC tunnel against the real dev cloud."""

from __future__ import annotations

import asyncio

import pytest

from ectui.i18n import render
from ectui.services.console import (
    MAX_LINES,
    ConsoleError,
    bound_text,
    check_lines,
    new_lines,
    ssh_tunnel,
)
from tests.kit.vms import Env, draft


async def _grows(
    env: Env,  # noqa: F811
    vm_id: int,
    before: str,
) -> str:
    for _ in range(200):  # the log gains a line per Timings tick (0.05 s here): wait on that, bounded
        text = await env.s.console.console_log(vm_id, lines=MAX_LINES)
        if len(text.splitlines()) > len(before.splitlines()):
            return text
        await asyncio.sleep(0.05)
    raise AssertionError("the console log did not grow")


async def test_console_log_grows_is_bounded_and_serial_url(env: Env) -> None:  # noqa: F811
    info = await env.s.vms.create(draft(env))
    first = await env.s.console.console_log(info.id, lines=MAX_LINES)
    assert "cloud-init" in first and "hostname: vm1" in first and info.cloud_id in first
    later = await _grows(env, info.id, first)
    assert later.startswith(first.splitlines()[0])
    assert new_lines(first.splitlines(), later.splitlines())
    # at most N lines, the newest ones; by name too
    three = await env.s.console.console_log("vm1", lines=3)
    assert len(three.splitlines()) == 3 and "heartbeat" in three.splitlines()[-1]
    with pytest.raises(ConsoleError) as caught:
        await env.s.console.console_log(info.id, lines=0)
    assert caught.value.key == "console.bad_lines"
    with pytest.raises(ConsoleError):
        await env.s.console.console_log(info.id, lines=MAX_LINES + 1)
    # serial console: a ws:// URL while ACTIVE
    url = await env.s.console.serial_console(info.id)
    assert url.startswith("ws://") and "token=" in url
    # noVNC through a jump host
    vnc, tunnel = await env.s.console.novnc_tunnel(info.id)
    port = vnc.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
    assert tunnel.command == f"ssh -L {port}:127.0.0.1:{port} JUMPHOST"
    assert tunnel.local_url.startswith(f"http://localhost:{port}/vnc_auto.html")
    # a stopped server: the log stays readable and stops growing; no serial console, said clearly
    await env.s.vms.stop(info.id, wait=True)
    stopped = await env.s.console.console_log(info.id, lines=MAX_LINES)
    assert "login:" in stopped
    await asyncio.sleep(0.1)  # two ticks: an ACTIVE server's log would have grown meanwhile
    assert await env.s.console.console_log(info.id, lines=MAX_LINES) == stopped
    with pytest.raises(ConsoleError) as caught:
        await env.s.console.serial_console(info.id)
    assert caught.value.key == "console.serial_unavailable" and "vm1" in render(caught.value)


def test_bounds_and_helpers() -> None:
    text = "".join(f"line {n}\n" for n in range(50))
    assert bound_text(text, 5) == "".join(f"line {n}\n" for n in range(45, 50))
    assert bound_text(text, 50, max_bytes=20) == "line 48\nline 49\n"
    assert check_lines(1) == 1 and check_lines(MAX_LINES) == MAX_LINES
    for bad in (0, -1, MAX_LINES + 1, True):
        with pytest.raises(ConsoleError):
            check_lines(bad)
    assert new_lines(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]
    assert new_lines(["a", "b"], ["a", "b"]) == []
    assert new_lines([], ["x"]) == ["x"]
    assert new_lines(["a"], ["z"]) == ["z"]
    assert new_lines(["c", "d"], ["a", "b", "c", "d", "e"]) == ["e"]  # a wider later window
    tunnel = ssh_tunnel("https://novnc.example.org:6080/vnc_auto.html?path=%3Ftoken%3Dabc", "bastion")
    assert tunnel.command == "ssh -L 6080:novnc.example.org:6080 bastion"
    assert tunnel.local_url == "https://localhost:6080/vnc_auto.html?path=%3Ftoken%3Dabc"
    assert ssh_tunnel("http://[fd00::1]/x").command == "ssh -L 80:[fd00::1]:80 JUMPHOST"
    with pytest.raises(ConsoleError):
        ssh_tunnel("not a url")
