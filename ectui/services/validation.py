"""Field parsers shared by the CLI and the forms: each raises ValidationError naming the field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from ectui.services.errors import ValidationError


def required_text(value: str | None, field: str, *, field_id: str = "", max_len: int = 200) -> str:
    """A non-empty, trimmed string of at most max_len characters."""
    text = (value or "").strip()
    if not text:
        raise ValidationError("validation.required", field=field, field_id=field_id)
    if len(text) > max_len:
        raise ValidationError("validation.too_long", field=field, field_id=field_id, max=max_len)
    return text


def optional_text(value: str | None, field: str, *, field_id: str = "", max_len: int = 2000) -> str:
    """A trimmed string, possibly empty."""
    text = (value or "").strip()
    if len(text) > max_len:
        raise ValidationError("validation.too_long", field=field, field_id=field_id, max=max_len)
    return text


def whole_number(
    value: str | int | None, field: str, *, field_id: str = "", minimum: int = 0, maximum: int = 1_000_000
) -> int:
    """A whole number within [minimum, maximum]."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        text = (value or "").strip() if isinstance(value, str) else ""
        if not text:
            raise ValidationError("validation.required", field=field, field_id=field_id)
        try:
            number = int(text)
        except ValueError:
            raise ValidationError("validation.int", field=field, field_id=field_id, value=text) from None
    if number < minimum:
        key = "validation.positive" if minimum == 1 else "validation.non_negative"
        raise ValidationError(key, field=field, field_id=field_id, value=number)
    if number > maximum:
        raise ValidationError(
            "validation.too_large", field=field, field_id=field_id, value=number, max=maximum
        )
    return number


def money(value: str | None, field: str, *, field_id: str = "") -> Decimal:
    """A non-negative amount with at most two decimals."""
    text = (value or "").strip() or "0"
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError("validation.decimal", field=field, field_id=field_id, value=text) from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")) or amount >= 10**12:
        raise ValidationError("validation.decimal", field=field, field_id=field_id, value=text)
    return amount.quantize(Decimal("0.01"))


def date_value(value: str | dt.date | None, field: str, *, field_id: str = "") -> dt.date:
    """A calendar date written YYYY-MM-DD."""
    if isinstance(value, dt.date):
        return value
    text = (value or "").strip()
    if not text:
        raise ValidationError("validation.required", field=field, field_id=field_id)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError("validation.date", field=field, field_id=field_id, value=text) from None


def choices(
    value: str | Iterable[str], field: str, allowed: Iterable[str], *, field_id: str = ""
) -> tuple[str, ...]:
    """A comma-separated list (or iterable) whose items all come from `allowed`; order of `allowed` kept."""
    allowed = tuple(allowed)
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value)]
    items = [v for v in items if v]
    for item in items:
        if item not in allowed:
            raise ValidationError(
                "validation.choice", field=field, field_id=field_id, choices=", ".join(allowed), value=item
            )
    return tuple(a for a in allowed if a in items)
