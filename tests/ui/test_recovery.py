"""The Operations screen shows an operation whose rollback could not reach the cloud as 'cleanup pending',
with the reason; the step holding the quota stays done until the cloud confirms the cleanup."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from uikit import started, until
from vmkit import open_operations, vm_console

from ectui.app import ConsoleApp
from ectui.services import ConsoleServices
from ectui.services.openstack.connection import CloudError
from ectui.services.operations.engine import CleanupPending, RunContext, Step
from ectui.services.vms import STEP_LABELS
from ectui.widgets.tables import table_rows


def refused(ctx: RunContext) -> None:
    raise CloudError("cloud.unreachable", reason="connection refused by 127.0.0.1:9")


async def pending_create(services: ConsoleServices) -> int:
    """A create whose boot failed and whose rollback could not reach the cloud (the real engine decides)."""
    engine = services.vms.engine
    steps = [
        Step("reserve", STEP_LABELS["reserve"], lambda ctx: None, lambda ctx: None, after_cleanup=True),
        Step("flavor", STEP_LABELS["flavor"], lambda ctx: ctx.data.update(flavor_id="f-1"), refused),
        Step("boot", STEP_LABELS["boot"], refused, refused),
    ]
    op_id = await asyncio.to_thread(engine.create_sync, "create_vm", steps, params={"name": "web1"})
    with pytest.raises(CleanupPending):
        await engine.run(op_id, steps, {})
    return op_id


async def test_operations_screen_shows_cleanup_pending_with_the_reason(tmp_path: Path) -> None:
    services = await vm_console(tmp_path, None)
    try:
        app = ConsoleApp(services)
        async with app.run_test(size=(100, 30)) as pilot:
            await started(pilot)  # the start-up recovery has run: it must not race the operation made here
            op_id = await pending_create(services)
            screen = await open_operations(pilot)
            await until(pilot, lambda: [r[3] for r in table_rows(screen.table)] == ["⟳ cleanup pending"])
            screen.select_id(op_id)
            summary = str(screen.query_one("#operations-summary").render())
            assert "cleanup pending" in summary
            error = str(screen.query_one("#operations-error").render())
            assert error.startswith("Cleanup pending: Step 'Boot on the node' failed")
            assert "could not reach the cloud" in error and "connection refused" in error
            assert "ops resume" in error and "quota it reserved stays reserved" in error
            states = screen.steps.states()
            assert states["boot"] == states["flavor"] == "failed"
            assert states["reserve"] == "done"  # its release waits for the cloud
            await pilot.press("f")  # running/failed only: a pending cleanup is not finished, it stays
            await until(pilot, lambda: len(table_rows(screen.table)) == 1)
    finally:
        services.close()
