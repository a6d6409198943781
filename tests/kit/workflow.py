"""Consoles licensed with a given feature set, as the workflow (request/approval) tests use them."""

from __future__ import annotations

from pathlib import Path

from ectui.devcloud import DevCloudHandle
from ectui.services import ConsoleServices
from tests.kit.base import build_licensed_console
from tests.kit.cloud import clean_cloud, sdk
from tests.kit.vms import Env, vm_env


async def console_with(home: Path, features: str, *, real_clock: bool = False) -> ConsoleServices:
    """A console (operator root) licensed with `features` until 2099 (real_clock: for a console the CLI also opens)."""
    return await build_licensed_console(
        home,
        edition="E-" + features.replace(",", "-"),
        features=features,
        storage="local,shared",
        valid_from="2020-01-01",
        valid_to="2099-12-31",
        operator="root",
        real_clock=real_clock,
    )


async def make_env(home: Path, cloud: DevCloudHandle, features: str, *, real_clock: bool = False) -> Env:
    """On a cleaned `cloud`: console_with(features), cluster dc1, template cirros, project web (8 vCPU, 16 GB, 3 VMs)."""
    conn = sdk(cloud)
    clean_cloud(cloud, conn)
    s = await console_with(home, features, real_clock=real_clock)
    try:
        return await vm_env(
            s,
            cloud,
            home,
            windows=False,
            quota={"vcpus": "8", "ram_gb": "16", "vms": "3", "public_ips": "1"},
            conn=conn,
        )
    except BaseException:
        s.close()
        raise
