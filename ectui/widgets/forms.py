"""Form helpers: show why a form is refused, and mark the field the refusal names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ectui.i18n import render
from ectui.services.errors import ServiceError, ValidationError
from ectui.widgets.literal import Static
from ectui.widgets.modals import ShellModal


def field_widget(fields: Mapping[str, str], err: ServiceError) -> str | None:
    """The id of the widget a refusal names: its ValidationError.field_id looked up in `fields`
    (field id → widget id); None for other refusals and unknown fields. Every form finds its field here;
    the field's label is only shown, never matched."""
    if isinstance(err, ValidationError) and err.field_id:
        return fields.get(err.field_id)
    return None


def mark_field(modal: ShellModal[Any], fields: Mapping[str, str], error_id: str, err: ServiceError) -> None:
    """Show why a form is refused (in #error_id), and mark and focus the field it names."""
    modal.query_one(f"#{error_id}", Static).update(render(err))
    for widget in modal.query(".-invalid"):
        widget.remove_class("-invalid")
    target = field_widget(fields, err)
    if target:
        widget = modal.query_one(f"#{target}")
        widget.add_class("-invalid")
        widget.focus()
