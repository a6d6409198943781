"""Banner: a warning line under the header, shown only while the app has a read-only reason."""

from __future__ import annotations

from ectui.i18n import _
from ectui.widgets.literal import Static


class Banner(Static):
    """Tells why the console is read-only and what to do; hidden when `app.readonly_reason` is empty."""

    DEFAULT_CSS = """
    Banner {
        display: none;
        height: auto;
        max-height: 3;
        width: 1fr;
        padding: 0 1;
        background: $error-muted;
        color: $text;
        text-style: bold;
        &.-visible { display: block; }
    }
    """

    def on_mount(self) -> None:
        if hasattr(self.app, "readonly_reason"):
            self.watch(self.app, "readonly_reason", self.show_reason)

    def show_reason(self, reason: str) -> None:
        """Show (or hide, for an empty reason) the read-only banner."""
        self.set_class(bool(reason), "-visible")
        self.update(_("Read-only: {reason}").format(reason=reason) if reason else "")
