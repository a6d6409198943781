"""Console Clusters and Compute nodes screens against the real dev cloud (C1-C3, K3)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from textual.widgets import Input
from uikit import domain_key, notifications, settle, started
from vmkit import licensed_services

from ectui.app import ConsoleApp
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.screens.clusters import ClusterFormModal, ClustersScreen, FtpFormModal
from ectui.screens.nodes import NodesScreen, capacity_bar
from ectui.services import ConsoleServices
from ectui.widgets import AppHeader, ConfirmModal
from ectui.widgets.tables import table_rows


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.05))
    yield handle
    handle.stop()


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[ConsoleServices]:
    console = await licensed_services(tmp_path)
    yield console
    console.close()


def fill(modal: object, values: dict[str, str]) -> None:
    for input_id, value in values.items():
        modal.query_one(f"#{input_id}", Input).value = value  # type: ignore[attr-defined]


async def test_add_test_sync_and_remove_a_cluster(services: ConsoleServices, cloud: DevCloudHandle) -> None:
    app = ConsoleApp(services)
    auth = cloud.cloud.cloud_config()["auth"]
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await pilot.press(domain_key(app, "clusters"))
        await settle(pilot, lambda: isinstance(app.screen, ClustersScreen))
        screen = app.screen
        assert isinstance(screen, ClustersScreen)
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, ClusterFormModal))
        fill(
            app.screen,
            {
                "cluster-name": "dc1",
                "cluster-auth-url": auth["auth_url"],
                "cluster-username": auth["username"],
                "cluster-password": auth["password"],
                "cluster-project": auth["project_name"],
            },
        )
        await pilot.press("ctrl+t")
        await settle(pilot, lambda: "Connection OK" in str(app.screen.query_one("#cluster-error").content))
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: table_rows(screen.table) != [])
        assert table_rows(screen.table)[0][0] == "dc1"
        assert app.screen.query_one(AppHeader) is not None
        await pilot.press("t")
        await settle(pilot, lambda: "Cloud: OK" in str(screen.query_one("#clusters-verdict").content))
        await pilot.press("f")
        await settle(pilot, lambda: isinstance(app.screen, FtpFormModal))
        ftp = cloud.ftp
        fill(
            app.screen,
            {
                "ftp-host": ftp["host"],
                "ftp-port": str(ftp["port"]),
                "ftp-user": ftp["user"],
                "ftp-password": ftp["password"],
            },
        )
        await pilot.press("ctrl+s")
        await settle(pilot, lambda: table_rows(screen.table)[0][5] != "—")
        await pilot.press("t")
        await settle(pilot, lambda: "FTP: OK" in str(screen.query_one("#clusters-verdict").content))
        await pilot.press("s")
        await settle(pilot, lambda: table_rows(screen.table)[0][4] == "3")
        assert app.cluster == "dc1"
        await pilot.press(domain_key(app, "nodes"))
        await settle(
            pilot, lambda: isinstance(app.screen, NodesScreen) and len(table_rows(app.screen.table)) == 3
        )
        nodes = app.screen
        assert isinstance(nodes, NodesScreen)
        assert [row[1] for row in table_rows(nodes.table)] == ["node-1", "node-2", "node-3"]
        await pilot.press("slash")
        await pilot.press("2")  # typed into the filter, not a domain switch
        await settle(pilot, lambda: len(table_rows(nodes.table)) == 1)
        assert table_rows(nodes.table)[0][1] == "node-2"
        await pilot.press("escape")
        nodes.table.focus()
        await pilot.press(domain_key(app, "clusters"))
        await settle(pilot, lambda: isinstance(app.screen, ClustersScreen))
        await pilot.press("ctrl+d")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await settle(pilot, lambda: table_rows(screen.table) == [])
        assert await services.clusters.list_all() == []


async def test_form_refusals_are_shown_on_the_form(services: ConsoleServices, cloud: DevCloudHandle) -> None:
    app = ConsoleApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        await pilot.press(domain_key(app, "clusters"))
        await settle(pilot, lambda: isinstance(app.screen, ClustersScreen))
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(app.screen, ClusterFormModal))
        modal = app.screen
        fill(modal, {"cluster-name": "dc1", "cluster-auth-url": "keystone:5000"})
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ClusterFormModal)
        assert "Auth URL" in str(modal.query_one("#cluster-error").content)
        assert modal.query_one("#cluster-auth-url").has_class("-invalid")
        fill(modal, {"cluster-auth-url": cloud.auth_url, "cluster-username": "admin", "cluster-password": "wrong",
                     "cluster-project": "demo"})  # fmt: skip
        await pilot.press("ctrl+t")
        await settle(pilot, lambda: "Authentication failed" in str(modal.query_one("#cluster-error").content))


async def test_license_limit_is_shown_when_adding_one_cluster_too_many(
    tmp_path: Path, cloud: DevCloudHandle
) -> None:
    from ectui.services.clusters import ClusterDraft

    services = await licensed_services(tmp_path, max_clusters="1")
    try:
        auth = cloud.cloud.cloud_config()["auth"]
        await services.clusters.add(
            ClusterDraft.parse(
                name="one", auth_url=auth["auth_url"], username="admin", password="x", project="demo"
            )
        )
        app = ConsoleApp(services)
        async with app.run_test(size=(100, 30)) as pilot:
            await started(pilot)
            screen = app.screen
            await pilot.press(domain_key(app, "clusters"))
            await settle(pilot, lambda: isinstance(app.screen, ClustersScreen))
            screen = app.screen
            assert isinstance(screen, ClustersScreen)
            screen.save_cluster(
                None,
                ClusterDraft.parse(
                    name="two", auth_url=auth["auth_url"], username="admin", password="x", project="demo"
                ),
            )
            await settle(pilot, lambda: any("allows 1 cluster" in n for n in notifications(app)))
            assert [row[0] for row in table_rows(screen.table)] == ["one"]
    finally:
        services.close()


def test_capacity_bar_is_readable_without_colour() -> None:
    assert capacity_bar(0, 32) == "░░░░░░░░░░   0%"
    assert capacity_bar(16, 32) == "█████░░░░░  50%"
    assert capacity_bar(40, 32).startswith("██████████ 100%")
    assert capacity_bar(1, 0).endswith("—")
