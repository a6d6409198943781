"""`ectui --demo`: the dev cloud starts, the console is licensed and the cluster registered; twice in a row."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ectui.config import Settings
from ectui.services import build_console_services
from ectui.services.demo import DEMO_CLUSTER, prepare_demo


async def test_demo_prepares_everything_and_survives_a_restart(
    tmp_path: Path, settings_for: Callable[..., Settings]
) -> None:
    settings = settings_for(tmp_path / "home")
    for round_ in (1, 2):
        services = build_console_services(settings)
        environment = await prepare_demo(services)
        try:
            status = await services.license.status()
            assert status.state == "valid" and status.writable
            assert status.license is not None and status.license.edition == "Demo"
            clusters = await services.clusters.list_all()
            assert [c.name for c in clusters] == [DEMO_CLUSTER]
            assert clusters[0].auth_url == environment.handle.auth_url  # follows the cloud's port
            assert clusters[0].node_count == 3 and clusters[0].ftp is not None
            assert (await services.clusters.test(DEMO_CLUSTER)).ok
            assert (await services.clusters.test_ftp(DEMO_CLUSTER)).ok
            assert status.usage.nodes == 3, round_
            assert (await services.projects.current()).name == "demo"  # type: ignore[union-attr]
            assert await services.images.list_all(DEMO_CLUSTER) and await services.isos.list_all(DEMO_CLUSTER)
            assert len(await services.templates.list_all(DEMO_CLUSTER)) == 1
        finally:
            environment.stop()
            services.close()
    # one license was issued: the second start found the first still valid
    assert len(list((settings.data_dir / "demo" / "license").glob("*.ec"))) == 1
