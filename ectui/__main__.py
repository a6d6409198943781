"""Run ectui with ``python -m ectui``."""

from __future__ import annotations

from ectui.cli import main

raise SystemExit(main())
