"""Form helpers: mark the field a refusal names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ectui.i18n import render
from ectui.services.errors import ServiceError, ValidationError
from ectui.widgets import ShellModal
from ectui.widgets.literal import Static

if TYPE_CHECKING:
    pass


def mark_field(modal: ShellModal[Any], fields: dict[str, str], error_id: str, err: ServiceError) -> None:
    """Show why a form is refused, and mark and focus the field it names."""
    modal.query_one(f"#{error_id}", Static).update(render(err))
    for widget in modal.query(".-invalid"):
        widget.remove_class("-invalid")
    if isinstance(err, ValidationError):
        target = fields.get(err.field.lower())
        if target:
            widget = modal.query_one(f"#{target}")
            widget.add_class("-invalid")
            widget.focus()
