"""``python -m ectui.devcloud``: run the dev cloud in the foreground."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
