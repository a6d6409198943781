"""Issuer drafts: the Standard edition of the issuer tests, and a license draft for it."""

from __future__ import annotations

from typing import Any

from ectui.services.issuer import EditionDraft, LicenseDraft

EDITION: dict[str, Any] = {
    "name": "Standard",
    "max_clusters": "3",
    "max_nodes": "50",
    "storage": "local,shared",
    "features": "platform,users",
    "grace_days": "7",
    "price": "1999.00",
    "description": "three clusters",
}


def edition(**changes: Any) -> EditionDraft:
    """The Standard edition draft, with `changes`."""
    return EditionDraft.parse(**{**EDITION, **changes})


def draft(**changes: str) -> LicenseDraft:
    """A license draft of ACME Cloud on Standard for 2030, with `changes`."""
    values = {
        "customer": "ACME Cloud",
        "edition": "Standard",
        "valid_from": "2030-01-01",
        "valid_to": "2030-12-31",
    }
    return LicenseDraft.parse(**{**values, **changes})
