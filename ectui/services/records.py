"""Pieces the record services (clusters, images, ISOs, templates) share.

- `JsonRecord` and `json_fields`: the JSON form of a listed record, its attributes in a fixed order.
- `one_of`: a form field whose value must come from a fixed set.
- `get_row`: a database row by id, or the service's "not found" error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any, ClassVar, TypeVar

from sqlalchemy.orm import Session

from ectui.services.errors import ServiceError, ValidationError

RowT = TypeVar("RowT")


def json_fields(obj: object, *fields: str) -> dict[str, Any]:
    """The named attributes of `obj` as a JSON-ready dict, in the order given.

    `fields` are space-separated names: an attribute name (the key is the same) or 'key=attribute' (the
    key differs). A datetime value is written as ISO text to the second.
    """
    out: dict[str, Any] = {}
    for spec in " ".join(fields).split():
        key, _, attr = spec.partition("=")
        value = getattr(obj, attr or key)
        out[key] = value.isoformat(timespec="seconds") if isinstance(value, dt.datetime) else value
    return out


class JsonRecord:
    """A record whose `to_json` writes the attributes named in `JSON_FIELDS` (see `json_fields`)."""

    JSON_FIELDS: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return json_fields(self, self.JSON_FIELDS)


def one_of(value: str, allowed: Collection[str], field: str, *, field_id: str) -> str:
    """`value` when it is one of `allowed`; otherwise ValidationError naming the field and the choices."""
    if value not in allowed:
        raise ValidationError(
            "validation.choice", field=field, field_id=field_id, choices=", ".join(allowed), value=value
        )
    return value


def get_row(session: Session, model: type[RowT], row_id: int, error: type[ServiceError], key: str) -> RowT:
    """The row of `model` with this id; `error(key, id=row_id)` when there is none."""
    row = session.get(model, row_id)
    if row is None:
        raise error(key, id=row_id)
    return row
