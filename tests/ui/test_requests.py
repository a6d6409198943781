"""The Requests screen (SPEC M4) with Pilot, against the dev cloud: an admin rejects with a reason and approves
(the create runs as a job); the requester sees the state of their requests and is notified when one changes;
the screen is hidden without the workflow module."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from uikit import notifications, settle, started

from ectui.app import ConsoleApp
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.screens.requests import RejectRequestModal, RequestsScreen
from ectui.services.projects import Amounts
from ectui.services.workflow import Actor
from ectui.widgets import ConfirmModal
from ectui.widgets.tables import table_rows
from tests.kit.cloud import clean_cloud
from tests.kit.vms import draft
from tests.kit.workflow import make_env


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.02))
    yield handle
    handle.stop()


def state_of(screen: RequestsScreen, request_id: int) -> str:
    return next(row[1] for row in table_rows(screen.table) if row[0] == str(request_id))


async def test_admin_rejects_and_approves_and_the_requester_follows(
    tmp_path: Path, cloud: DevCloudHandle, settings_for: Callable[..., Any], make_license: Any
) -> None:
    env = await make_env(tmp_path, cloud, "platform,users,workflow")
    s = env.s
    bob = Actor("bob", "operator")
    s.workflow.identity_provider = lambda: bob
    first = await s.workflow.submit(draft(env, name="ui1", cpu="2", ram_gb="2"))
    second = await s.workflow.submit(draft(env, name="ui2", cpu="1", ram_gb="1"))
    who: list[Actor] = [Actor("carol", "admin")]
    s.workflow.identity_provider = lambda: who[0]
    app = ConsoleApp(s)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            assert "requests" in [d.id for d in app.visible_domains()]
            await app.switch_mode("requests")
            await settle(
                pilot,
                lambda: isinstance(app.screen, RequestsScreen) and len(table_rows(app.screen.table)) == 2,
            )
            screen = app.screen
            assert isinstance(screen, RequestsScreen)
            assert [r[0] for r in table_rows(screen.table)] == [str(second.id), str(first.id)]
            assert {state_of(screen, first.id), state_of(screen, second.id)} == {"pending"}

            # reject the second (cursor on the first row) with a reason; an empty reason is refused
            await pilot.press("ctrl+r")
            await settle(pilot, lambda: isinstance(app.screen, RejectRequestModal))
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert "Reason" in str(app.screen.query_one("#reject-error").render())
            await pilot.press(*"too big")
            await pilot.press("ctrl+s")
            await settle(pilot, lambda: app.screen is screen and state_of(screen, second.id) == "rejected")
            assert (await s.workflow.get(second.id)).reason == "too big"

            # approve the first: confirmed, then the create runs as a job on the held quota
            screen.table.move_cursor(row=1)
            await pilot.press("a")
            await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
            await pilot.press("y")
            await settle(pilot, lambda: app.screen is screen and state_of(screen, first.id) == "done")
            project = await s.projects.get("web")
            assert project.used == Amounts(2, 2, 1, 0) and project.reserved == Amounts()
            assert [v.name for v in await s.vms.list_all()] == ["ui1"]

            # the requester sees the state of their requests, and is told when one changes
            who[0] = bob
            third = await s.workflow.submit(draft(env, name="ui3", cpu="1", ram_gb="1"))
            screen.refresh_requests()
            await settle(pilot, lambda: len(table_rows(screen.table)) == 3)
            assert state_of(screen, third.id) == "pending"
            assert "bob, operator" in str(screen.query_one("#requests-title").render())
            who[0] = Actor("carol", "admin")
            await s.workflow.reject(third.id, "not now")
            who[0] = bob
            screen.refresh_requests()
            await settle(pilot, lambda: state_of(screen, third.id) == "rejected")
            assert any(f"Request {third.id} is now rejected: not now" in n for n in notifications(app))
            # an operator may not approve: the refusal is shown, nothing runs
            await s.workflow.submit(draft(env, name="ui4", cpu="1", ram_gb="1"))
            screen.refresh_requests()
            await settle(pilot, lambda: len(table_rows(screen.table)) == 4)
            screen.table.move_cursor(row=0)
            await pilot.press("a")
            await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
            await pilot.press("y")
            await settle(pilot, lambda: any("Only an admin may approve" in n for n in notifications(app)))
            assert state_of(screen, screen.requests[0].id) == "pending"
    finally:
        s.close()
        clean_cloud(cloud, env.conn)


async def test_requests_screen_is_hidden_without_the_workflow_module(
    tmp_path: Path, cloud: DevCloudHandle, settings_for: Callable[..., Any], make_license: Any
) -> None:
    env = await make_env(tmp_path, cloud, "platform")
    app = ConsoleApp(env.s)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            ids = [d.id for d in app.visible_domains()]
            assert "vms" in ids and "requests" not in ids
    finally:
        env.s.close()


async def test_an_operators_create_and_resize_from_the_tui_become_requests(
    tmp_path: Path, cloud: DevCloudHandle, settings_for: Callable[..., Any], make_license: Any
) -> None:
    from ectui.screens.vms import VmsScreen
    from ectui.screens.vms.resize import start_resize_job

    env = await make_env(tmp_path, cloud, "platform,users,workflow")
    s = env.s
    vm = await s.vms.create(draft(env, name="base", cpu="1", ram_gb="1"))  # made by the OS operator (admin)
    s.workflow.identity_provider = lambda: Actor("bob", "operator")
    app = ConsoleApp(s)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            await app.switch_mode("vms")
            await settle(pilot, lambda: isinstance(app.screen, VmsScreen))
            screen = app.screen
            assert isinstance(screen, VmsScreen)
            screen.start_create(draft(env, name="asked", cpu="1", ram_gb="1"))
            await settle(
                pilot, lambda: any("waiting for an admin's approval" in n for n in notifications(app))
            )
            plan = await s.resize.plan(vm.id, 2, 2, "cold")
            start_resize_job(app, s, plan)
            await settle(
                pilot, lambda: sum("waiting for an admin's approval" in n for n in notifications(app)) == 2
            )
        requests = await s.workflow.list_all()
        assert sorted((r.kind, r.state) for r in requests) == [
            ("create_vm", "pending"),
            ("resize", "pending"),
        ]
        assert [v.name for v in await s.vms.list_all()] == ["base"]
        assert (await s.vms.get(vm.id)).vcpus == 1  # nothing ran: it waits for an admin
        assert (await s.projects.get("web")).reserved == Amounts(vcpus=2, ram_gb=2, vms=1)
    finally:
        s.close()
        clean_cloud(cloud, env.conn)
