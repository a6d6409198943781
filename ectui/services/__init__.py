"""Services: all logic and I/O of ectui, with no UI imports. Built by the factories below, never at import."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.clusters import ClusterService
    from ectui.services.images import ImageService
    from ectui.services.isos import IsoService
    from ectui.services.issuer import IssuerService
    from ectui.services.keypairs import KeypairService
    from ectui.services.license import ConsoleLicenseService
    from ectui.services.projects import ProjectService
    from ectui.services.templates import TemplateService
    from ectui.services.vms import VmService


@dataclass
class IssuerServices:
    """Everything the issuer app and `ectui issuer` use."""

    settings: Settings
    db: Database
    issuer: IssuerService

    async def start(self) -> None:
        """Migrate the database, seed menus, unlock keys (make the signing key on first start)."""
        await self.issuer.start()

    def close(self) -> None:
        """Release database connections."""
        self.db.dispose()


@dataclass
class ConsoleServices:
    """Everything the console app and `ectui` commands use."""

    settings: Settings
    db: Database
    license: ConsoleLicenseService
    clusters: ClusterService
    images: ImageService
    templates: TemplateService
    projects: ProjectService
    isos: IsoService
    vms: VmService
    keypairs: KeypairService
    readonly_flag: bool = False

    async def start(self) -> None:
        """Migrate the console database and load the installed license."""
        self.settings.ensure_dirs()
        await asyncio.to_thread(self.db.migrate)
        await self.license.status()

    def close(self) -> None:
        """Close cloud connections and release database connections."""
        self.clusters.close()
        self.db.dispose()


def build_issuer_services(
    settings: Settings, *, today: Callable[[], dt.date] | None = None
) -> IssuerServices:
    """Wire the issuer's services on its own database (never the console's)."""
    from ectui.db.session import Database
    from ectui.services.issuer import IssuerService

    db = Database(settings.issuer_url, "issuer")
    return IssuerServices(settings=settings, db=db, issuer=IssuerService(settings, db, today=today))


def build_console_services(
    settings: Settings, *, clock: Callable[[], dt.datetime] | None = None, readonly: bool = False
) -> ConsoleServices:
    """Wire the console's services."""
    from ectui.db.session import Database
    from ectui.services.clusters import ClusterService, cluster_usage
    from ectui.services.images import ImageService
    from ectui.services.isos import IsoService
    from ectui.services.keypairs import KeypairService
    from ectui.services.license import ConsoleLicenseService, Usage
    from ectui.services.projects import ProjectService
    from ectui.services.secrets import LazyKeyFileBox
    from ectui.services.templates import TemplateService
    from ectui.services.vms import VmService

    db = Database(settings.console_db_url, "console")
    box = LazyKeyFileBox(settings.console_key_file)

    def usage() -> Usage:
        clusters, nodes = cluster_usage(db)
        return Usage(clusters=clusters, nodes=nodes)

    license_service = ConsoleLicenseService(
        settings, db, clock=clock, readonly=readonly, usage=usage, box=box
    )
    return ConsoleServices(
        settings=settings,
        db=db,
        license=license_service,
        clusters=(clusters := ClusterService(db, box, license_service)),
        images=ImageService(db, clusters, license_service, settings),
        templates=TemplateService(db, license_service, settings),
        projects=(projects := ProjectService(settings, db, license_service)),
        isos=IsoService(db, clusters, license_service, settings),
        vms=VmService(db, clusters, projects, license_service, settings),
        keypairs=KeypairService(db, clusters, projects, license_service, settings),
        readonly_flag=readonly,
    )
