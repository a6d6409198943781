"""Projects and quotas: reservations never oversubscribe, also with racing processes."""

from __future__ import annotations

import multiprocessing
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ectui.config import Settings
from ectui.i18n import render, set_language
from ectui.services import ConsoleServices, build_console_services, build_issuer_services
from ectui.services.errors import ReadOnlyError, ValidationError
from ectui.services.projects import Amounts, ProjectDraft, QuotaError
from tests.kit import CONSOLE_NOW, Clock


async def licensed(
    home: Path, db_url: str, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> ConsoleServices:
    issuer = build_issuer_services(settings_for(home / "issuer"))
    await issuer.start()
    try:
        issued = await make_license(issuer.issuer, home / "out")
    finally:
        issuer.close()
    console = build_console_services(
        settings_for(home / "console", ECTUI_DB_URL=db_url), clock=Clock(CONSOLE_NOW)
    )
    await console.start()
    await console.license.import_license(issued.ec_path, issued.properties_path)
    return console


@pytest.fixture
async def services(
    tmp_path: Path, db_url: str, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> AsyncIterator[ConsoleServices]:
    console = await licensed(tmp_path, db_url, settings_for, make_license)
    yield console
    console.close()


def draft(name: str = "web", **quota: str) -> ProjectDraft:
    values = {"vcpus": "10", "ram_gb": "32", "vms": "4", "public_ips": "2"}
    values.update(quota)
    return ProjectDraft.parse(name=name, **values)


async def test_add_use_and_current(services: ConsoleServices) -> None:
    projects = services.projects
    with pytest.raises(QuotaError) as err:
        await projects.require_current()
    assert err.value.key == "project.none_selected"
    set_language("zh_CN")
    try:
        assert render(err.value) == "请先选择项目！"
    finally:
        set_language("en")
    await projects.add(draft("web"))
    await projects.add(draft("db", vcpus="4"))
    assert [p.name for p in await projects.list_all()] == ["db", "web"]
    await projects.use("web")
    assert (await projects.require_current()).name == "web"
    again = build_console_services(services.settings)
    try:
        assert (await again.projects.current()).name == "web"  # type: ignore[union-attr]
    finally:
        again.close()
    with pytest.raises(QuotaError) as err:
        await projects.add(draft("web"))
    assert err.value.key == "project.exists"


async def test_reserve_commit_release_and_refusals(services: ConsoleServices) -> None:
    projects = services.projects
    await projects.add(draft("web"))
    first = await projects.reserve("web", Amounts(vcpus=4, ram_gb=8, vms=1), purpose="create vm a")
    second = await projects.reserve("web", Amounts(vcpus=4, ram_gb=8, vms=1), purpose="create vm b")
    info = await projects.get("web")
    assert info.reserved == Amounts(8, 16, 2, 0) and info.free.vcpus == 2
    with pytest.raises(QuotaError) as err:
        await projects.reserve("web", Amounts(vcpus=4, ram_gb=1, vms=1))
    assert err.value.key == "project.quota_exceeded"
    assert err.value.params["resource"] == "vCPU" and err.value.params["limit"] == 10
    assert "0 used + 8 reserved + 4 asked > 10" in str(err.value)
    assert (await projects.get("web")).reserved == Amounts(8, 16, 2, 0)  # a refusal holds nothing
    await projects.commit(first.id)
    await projects.release(second.id)
    await projects.release(second.id)  # finishing twice changes nothing
    info = await projects.get("web")
    assert info.used == Amounts(4, 8, 1, 0) and info.reserved == Amounts()
    assert await projects.held("web") == []
    with pytest.raises(QuotaError) as err:
        await projects.set_quota("web", Amounts(vcpus=2, ram_gb=32, vms=4, public_ips=2))
    assert err.value.key == "project.quota_below_use"
    await projects.set_quota("web", Amounts(vcpus=20, ram_gb=32, vms=4, public_ips=2))
    with pytest.raises(QuotaError) as err:
        await projects.delete("web")
    assert err.value.key == "project.in_use"
    await projects.free_used("web", Amounts(4, 8, 1, 0))
    await projects.delete("web")
    assert await projects.list_all() == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": "bad name"}, "Project name"),
        ({"vcpus": "x"}, "vCPU quota"),
        ({"ram_gb": "-1"}, "RAM quota (GB)"),
        ({"vms": ""}, "VM quota"),
    ],
)
def test_project_validation(fields: dict[str, str], field: str) -> None:
    values = {"name": "ok", "vcpus": "1", "ram_gb": "1", "vms": "1"}
    values.update(fields)
    with pytest.raises(ValidationError) as err:
        ProjectDraft.parse(**values)
    assert err.value.field == field
    assert err.value.field_id == next(iter(fields))


async def test_read_only_console_cannot_add_projects(
    tmp_path: Path, settings_for: Callable[..., Settings]
) -> None:
    bare = build_console_services(settings_for(tmp_path / "bare"), clock=Clock(CONSOLE_NOW))
    await bare.start()
    try:
        with pytest.raises(ReadOnlyError):
            await bare.projects.add(draft())
    finally:
        bare.close()


def _racer(db_url: str, home: str, barrier: Any, results: Any) -> None:
    """One operator in its own process: wait for the others, then grab 2 vCPUs."""
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.license import ConsoleLicenseService
    from ectui.services.projects import Amounts, ProjectService, QuotaError

    settings = Settings.from_env({"ECTUI_HOME": home, "ECTUI_DB_URL": db_url})
    db = Database(db_url, "console")
    service = ProjectService(settings, db, ConsoleLicenseService(settings, db))
    barrier.wait()
    try:
        service.reserve_sync("web", Amounts(vcpus=2, ram_gb=1), "race")
        results.put("ok")
    except QuotaError:
        results.put("refused")
    finally:
        db.dispose()


async def test_racing_processes_never_oversubscribe(services: ConsoleServices, db_url: str) -> None:
    await services.projects.add(draft("web", vcpus="10", ram_gb="100"))
    context = multiprocessing.get_context("spawn")
    racers = 8
    barrier = context.Barrier(racers)
    results = context.Queue()
    processes = [
        context.Process(
            target=_racer, args=(db_url, str(services.settings.config_dir.parent), barrier, results)
        )
        for _ in range(racers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert sorted(outcomes) == ["ok"] * 5 + ["refused"] * 3
    info = await services.projects.get("web")
    assert info.reserved.vcpus == 10 and info.free.vcpus == 0
    assert len(await services.projects.held("web")) == 5
