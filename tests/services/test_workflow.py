"""Workflow (SPEC M4) against the real dev cloud: an operator's create and resize become requests with the quota
reserved at once; an admin's approval runs the real operation on that reservation, a rejection, a cancel or a
failure releases it; the password is sealed, never in clear in the database; roles and license gating."""

# ruff: noqa: F811  (pytest fixtures imported from the sibling module are redefined as parameters)

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ectui.config import Settings
from ectui.db.models import WorkflowRequest
from ectui.devcloud import DevCloudHandle, Timings, run_in_thread
from ectui.i18n import render
from ectui.services.errors import LicenseError, ValidationError
from ectui.services.projects import Amounts, QuotaError
from ectui.services.workflow import Actor, WorkflowError
from tests.kit.cloud import clean_cloud, fault
from tests.kit.vms import PASSWORD, Env, draft
from tests.kit.workflow import make_env

FEATURES = "platform,statistics,users,workflow"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCloudHandle]:
    """One dev cloud for the module (each test cleans its servers and faults)."""
    handle = run_in_thread(tmp_path_factory.mktemp("cloud"), timings=Timings.fast(0.02))
    yield handle
    handle.stop()


@pytest.fixture
async def env(
    tmp_path: Path, cloud: DevCloudHandle, settings_for: Callable[..., Settings], make_license: Any
) -> AsyncIterator[Env]:
    """A console licensed with the workflow module, cluster dc1, template cirros, project web (8 vCPU, 16 GB, 3 VMs)."""
    e = await make_env(tmp_path, cloud, FEATURES)
    yield e
    e.s.close()
    clean_cloud(cloud, e.conn)


def act_as(env: Env, user: str, role: str) -> None:
    env.s.workflow.identity_provider = lambda: Actor(user, role)


async def project(env: Env) -> Any:
    return await env.s.projects.get("web")


def db_bytes(env: Env) -> bytes:
    data_dir = env.s.settings.console_db_url.removeprefix("sqlite:///")
    return b"".join(p.read_bytes() for p in Path(data_dir).parent.glob(Path(data_dir).name + "*"))


# ------------------------------------------------------------------ create: approval, rejection, cancel, failure


async def test_operator_create_is_a_request_with_quota_reserved_then_approval_consumes_it(env: Env) -> None:
    act_as(env, "bob", "operator")
    outcome = await env.s.workflow.submit_or_run(draft(env, name="vm1", cpu="2", ram_gb="4", public_ip=True))
    assert outcome.submitted and outcome.result is None
    request = outcome.request
    assert request is not None and request.state == "pending" and request.requested_by == "bob"
    assert request.reserved == Amounts(vcpus=2, ram_gb=4, vms=1, public_ips=1)
    p = await project(env)
    assert p.reserved == Amounts(2, 4, 1, 1) and p.used == Amounts()
    assert await env.s.vms.list_all() == []  # nothing made yet
    # the password is sealed: not in the request's JSON, nor anywhere in the database files
    with env.s.db.session() as session:
        row = session.scalars(select(WorkflowRequest)).one()
        assert row.sealed_password and PASSWORD.encode() not in row.sealed_password
        assert PASSWORD not in row.params
    assert PASSWORD.encode() not in db_bytes(env)

    with pytest.raises(WorkflowError) as caught:  # an operator cannot approve
        await env.s.workflow.approve(request.id)
    assert caught.value.key == "workflow.admin_only"

    act_as(env, "carol", "admin")
    done = await env.s.workflow.approve(request.id)
    assert done.state == "done" and done.decided_by == "carol" and done.error == ""
    assert done.vm_id is not None and done.operation_id is not None and not done.has_sealed_password
    vm = await env.s.vms.get(done.vm_id)
    assert (vm.name, vm.vcpus, vm.ram_gb, vm.project) == ("vm1", 2, 4, "web") and vm.floating_ip
    p = await project(env)
    assert p.used == Amounts(2, 4, 1, 1) and p.reserved == Amounts()  # consumed, never counted twice
    assert await env.s.projects.held("web") == []
    with pytest.raises(WorkflowError) as again:
        await env.s.workflow.approve(request.id)
    assert again.value.key == "workflow.not_pending"


async def test_rejection_needs_a_reason_and_releases_the_reservation(env: Env) -> None:
    act_as(env, "bob", "operator")
    request = (await env.s.workflow.submit_or_run(draft(env, cpu="4", ram_gb="8"))).request
    assert request is not None and (await project(env)).reserved == Amounts(4, 8, 1, 0)
    with pytest.raises(WorkflowError) as caught:
        await env.s.workflow.reject(request.id, "no")
    assert caught.value.key == "workflow.admin_only"
    act_as(env, "carol", "admin")
    with pytest.raises(ValidationError) as empty:
        await env.s.workflow.reject(request.id, "   ")
    assert empty.value.params["field"] == "Reason"
    rejected = await env.s.workflow.reject(request.id, "over budget this month")
    assert (rejected.state, rejected.reason, rejected.decided_by) == (
        "rejected",
        "over budget this month",
        "carol",
    )
    assert not rejected.has_sealed_password
    p = await project(env)
    assert p.reserved == Amounts() and p.used == Amounts()
    act_as(env, "bob", "operator")  # the requester sees the state and the reason
    mine = await env.s.workflow.list_all()
    assert [(r.id, r.state, r.reason) for r in mine] == [(request.id, "rejected", "over budget this month")]


async def test_quota_is_held_at_submit_so_approvals_cannot_oversubscribe(env: Env) -> None:
    act_as(env, "bob", "operator")
    first = (await env.s.workflow.submit(draft(env, name="a", cpu="6", ram_gb="2"))).id
    with pytest.raises(QuotaError) as caught:  # 6 of 8 vCPU held: a second 6 does not fit
        await env.s.workflow.submit(draft(env, name="b", cpu="6", ram_gb="2"))
    assert caught.value.key == "project.quota_exceeded" and "vCPU" in render(caught.value)
    with env.s.db.session() as session:
        assert len(session.scalars(select(WorkflowRequest)).all()) == 1
    # the requester cancels; another operator may not
    act_as(env, "dave", "operator")
    with pytest.raises(WorkflowError) as other:
        await env.s.workflow.cancel(first)
    assert other.value.key == "workflow.not_requester"
    with pytest.raises(WorkflowError) as hidden:
        await env.s.workflow.get(first)
    assert hidden.value.key == "workflow.not_yours"
    assert await env.s.workflow.list_all() == []  # operators see only their own
    act_as(env, "bob", "operator")
    cancelled = await env.s.workflow.cancel(first)
    assert cancelled.state == "cancelled" and (await project(env)).reserved == Amounts()
    assert (await env.s.workflow.submit(draft(env, name="b", cpu="6", ram_gb="2"))).state == "pending"


async def test_a_failed_approved_create_releases_the_reservation_and_purges_the_password(env: Env) -> None:
    act_as(env, "bob", "operator")
    request = (await env.s.workflow.submit(draft(env, cpu="2", ram_gb="2"))).id
    act_as(env, "carol", "admin")
    fault(env.cloud, "compute.create_server", message="injected boot failure")
    failed = await env.s.workflow.approve(request)
    assert failed.state == "failed" and "injected boot failure" in failed.error
    assert PASSWORD not in failed.error and not failed.has_sealed_password
    p = await project(env)
    assert p.reserved == Amounts() and p.used == Amounts()
    assert await env.s.vms.list_all() == []


# ------------------------------------------------------------------ resize, admins, auditors


async def test_resize_request_reserves_growth_and_approval_runs_the_resize(env: Env) -> None:
    act_as(env, "carol", "admin")  # an admin runs directly, module on or not
    direct = await env.s.workflow.submit_or_run(draft(env, name="r1", cpu="1", ram_gb="2"))
    assert not direct.submitted and direct.result.name == "r1"
    vm_id = direct.result.id
    assert (await project(env)).used == Amounts(1, 2, 1, 0)
    act_as(env, "bob", "operator")
    plan = await env.s.resize.plan(vm_id, 3, 4, "cold")
    request = (await env.s.workflow.submit_or_run(plan)).request
    assert request is not None and request.kind == "resize" and request.reserved == Amounts(vcpus=2, ram_gb=2)
    assert (await project(env)).reserved == Amounts(vcpus=2, ram_gb=2)
    assert (await env.s.vms.get(vm_id)).vcpus == 1
    act_as(env, "carol", "admin")
    done = await env.s.workflow.approve(request.id)
    assert done.state == "done", done.error
    vm = await env.s.vms.get(vm_id)
    assert (vm.vcpus, vm.ram_gb) == (3, 4)
    p = await project(env)
    assert p.used == Amounts(3, 4, 1, 0) and p.reserved == Amounts()
    op = await env.s.resize.operation(done.operation_id or 0)
    assert op.kind == "resize" and op.state == "done"


async def test_auditors_read_and_change_nothing(env: Env) -> None:
    act_as(env, "bob", "operator")
    request = (await env.s.workflow.submit(draft(env))).id
    act_as(env, "eve", "auditor")
    assert [r.id for r in await env.s.workflow.list_all()] == [request]
    for call in (
        lambda: env.s.workflow.submit(draft(env, name="x")),
        lambda: env.s.workflow.approve(request),
        lambda: env.s.workflow.reject(request, "no"),
        lambda: env.s.workflow.cancel(request),
    ):
        with pytest.raises(WorkflowError) as caught:
            await call()
        assert caught.value.key in ("workflow.auditor", "workflow.admin_only")
    assert (await env.s.workflow.get(request)).state == "pending"


async def test_without_the_users_module_the_os_operator_is_an_admin(env: Env) -> None:
    env.s.workflow.identity_provider = None
    who = await env.s.workflow.identity()
    assert (who.user, who.role) == ("root", "admin")
    assert not await env.s.workflow.needs_approval()


# ------------------------------------------------------------------ gating


async def test_without_the_workflow_module_everyone_runs_directly_and_requests_refuse(
    tmp_path: Path, cloud: DevCloudHandle, settings_for: Callable[..., Settings], make_license: Any
) -> None:
    e = await make_env(tmp_path, cloud, "platform,statistics")
    try:
        act_as(e, "bob", "operator")
        assert not await e.s.workflow.needs_approval()
        outcome = await e.s.workflow.submit_or_run(draft(e, name="direct", cpu="1", ram_gb="1"))
        assert not outcome.submitted and outcome.result.name == "direct"
        for call in (
            lambda: e.s.workflow.list_all(),
            lambda: e.s.workflow.submit(draft(e, name="x")),
            lambda: e.s.workflow.approve(1),
            lambda: e.s.workflow.reject(1, "no"),
            lambda: e.s.workflow.cancel(1),
        ):
            with pytest.raises(LicenseError) as caught:
                await call()
            assert (
                caught.value.key == "license.feature_disabled"
                and caught.value.params["feature"] == "workflow"
            )
            assert "workflow" in render(caught.value)
    finally:
        e.s.close()
        clean_cloud(cloud, e.conn)
