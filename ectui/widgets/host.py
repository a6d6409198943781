"""What screens and modals use of their app, typed: `console_app(node)` and `issuer_app(node)`.

The apps (ectui.app) import the screens, so the screens name the apps' parts by these protocols instead of
importing them; ConsoleApp and IssuerApp satisfy them (ectui.app checks it for the type checker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from textual.app import App
    from textual.dom import DOMNode
    from textual.worker import Worker

    from ectui.jobs import Jobs
    from ectui.services import ConsoleServices, IssuerServices
    from ectui.services.license import LicenseStatus


class IssuerHost(Protocol):
    """The parts of the issuer app its screens use."""

    @property
    def services(self) -> IssuerServices: ...

    def refresh_status(self) -> Worker[None]:
        """Reload the header counts (after a create or delete)."""
        ...


class ConsoleHost(Protocol):
    """The parts of the console app its screens and modals use."""

    @property
    def services(self) -> ConsoleServices: ...

    @property
    def jobs(self) -> Jobs:
        """Background jobs that outlive the screen that started them."""
        ...

    project: str
    """Current project (shown in the header)."""
    cluster: str
    """Current cluster (shown in the header)."""

    def refresh_status(self) -> Worker[None]:
        """Reload the license status (header, banner, License screen)."""
        ...

    async def require_login(self) -> None:
        """Show the login screen when accounts exist and nobody is logged in."""
        ...

    def apply_license_status(self, status: LicenseStatus) -> None:
        """Show a new license status in the header and banner, and tell the screens."""
        ...


class ConsoleAccess:
    """Mixin of console screens and modals: `console`, the app as its screens use it."""

    @property
    def console(self) -> ConsoleHost:
        """The console app, typed."""
        return console_app(cast("DOMNode", self))


class ConsoleServicesAccess(ConsoleAccess):
    """Mixin of console screens: also `services`, the console services of the app."""

    @property
    def services(self) -> ConsoleServices:
        """The console services of the app."""
        return self.console.services


def console_app(node: DOMNode) -> ConsoleHost:
    """The console app of a screen or widget."""
    app: App[Any] = node.app
    return cast("ConsoleHost", app)


def issuer_app(node: DOMNode) -> IssuerHost:
    """The issuer app of a screen or widget."""
    app: App[Any] = node.app
    return cast("IssuerHost", app)
