"""Helpers of the Pilot tests, imported as `uikit` by the modules of tests/ui; they live in tests.kit.ui."""

from __future__ import annotations

from tests.kit.ui import domain_key, help_text, notifications, settings_for, settle, started, until

__all__ = ["domain_key", "help_text", "notifications", "settings_for", "settle", "started", "until"]
