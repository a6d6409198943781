"""System templates: made only from enabled images, kept when the image is disabled, edited, deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ectui.config import Settings
from ectui.devcloud import DevCloudHandle
from ectui.services import ConsoleServices
from ectui.services.errors import ServiceError, ValidationError
from ectui.services.templates import TemplateDraft
from tests.kit import build_licensed_console
from tests.kit.cloud import cluster_draft


@pytest.fixture
async def console(
    tmp_path: Path,
    cloud: DevCloudHandle,
    settings_for: Callable[..., Settings],
    make_license: Callable[..., Any],
) -> AsyncIterator[ConsoleServices]:
    services = await build_licensed_console(tmp_path, operator="alice")
    await services.clusters.add(cluster_draft(cloud, storage="local"))
    await services.images.sync("dc1")
    yield services
    services.close()


async def image_id(console: ConsoleServices, name: str) -> int:
    return next(i.id for i in await console.images.list_all() if i.name == name)


async def test_create_edit_list_and_delete(console: ConsoleServices) -> None:
    cirros = await image_id(console, "cirros-0.6.2")
    draft = TemplateDraft.parse(
        name="small-linux", image_id=cirros, os_type="Linux", min_cpu="1", min_ram_gb="2", min_disk_gb="10",
        description="for tests",
    )  # fmt: skip
    made = await console.templates.create(draft)
    assert (made.cluster, made.image_name, made.os_type, made.min_ram_gb, made.kind) == (
        "dc1", "cirros-0.6.2", "linux", 2, "system",
    )  # fmt: skip
    assert made.created_by == "alice" and made.image_enabled

    windows = await image_id(console, "windows-2019-mini")
    edited = await console.templates.update(
        made.id, TemplateDraft.parse(name="win", image_id=windows, os_type="windows", min_cpu="2")
    )
    assert (edited.name, edited.image_name, edited.min_cpu) == ("win", "windows-2019-mini", 2)
    assert [t.name for t in await console.templates.list_all("dc1")] == ["win"]

    with pytest.raises(ServiceError, match="already has a template named 'win'"):
        await console.templates.create(TemplateDraft.parse(name="win", image_id=cirros, os_type="linux"))

    await console.templates.delete(made.id)
    assert await console.templates.list_all() == []
    with pytest.raises(ServiceError, match="No template with id"):
        await console.templates.delete(made.id)


async def test_disabled_images_make_no_new_templates_but_keep_old_ones(console: ConsoleServices) -> None:
    cirros = await image_id(console, "cirros-0.6.2")
    old = await console.templates.create(TemplateDraft.parse(name="old", image_id=cirros, os_type="linux"))
    await console.images.set_enabled(cirros, False)
    with pytest.raises(ServiceError) as err:
        await console.templates.create(TemplateDraft.parse(name="new", image_id=cirros, os_type="linux"))
    assert err.value.key == "template.image_disabled" and "cirros-0.6.2" in str(err.value)
    [kept] = await console.templates.list_all()
    assert kept.id == old.id and kept.image_cloud_id and not kept.image_enabled
    # an existing template can still be edited while its image stays disabled
    renamed = await console.templates.update(
        old.id, TemplateDraft.parse(name="old-renamed", image_id=cirros, os_type="linux", min_cpu="4")
    )
    assert renamed.min_cpu == 4
    with pytest.raises(ServiceError, match="No image with id 999"):
        await console.templates.create(TemplateDraft.parse(name="x", image_id=999, os_type="linux"))


def test_drafts_are_validated() -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"name": " "}, "validation.required", "Template name"),
        ({"os_type": "bsd"}, "validation.choice", "OS type"),
        ({"image_id": "x"}, "validation.int", "Image"),
        ({"min_cpu": "0"}, "validation.positive", "Min CPU"),
        ({"min_ram_gb": "1.5"}, "validation.int", "Min RAM (GB)"),
        ({"min_disk_gb": "-3"}, "validation.positive", "Min disk (GB)"),
    ]
    for overrides, key, field in cases:
        fields: dict[str, Any] = {"name": "t", "image_id": "1", "os_type": "linux", **overrides}
        with pytest.raises(ValidationError) as err:
            TemplateDraft.parse(**fields)
        assert (err.value.key, err.value.field) == (key, field), overrides
        assert err.value.field_id == next(iter(overrides)), overrides
