"""Services: all logic and I/O of ectui, with no UI imports. Built by the factories below, never at import."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.audit import AuditService
    from ectui.services.billing import BillingService
    from ectui.services.clusters import ClusterService
    from ectui.services.images import ImageService
    from ectui.services.isos import IsoService
    from ectui.services.issuer import IssuerService
    from ectui.services.keypairs import KeypairService
    from ectui.services.license import ConsoleLicenseService
    from ectui.services.operator_settings import OperatorSettingsService
    from ectui.services.projects import ProjectService
    from ectui.services.resize import ResizeService
    from ectui.services.stats import StatsService
    from ectui.services.templates import TemplateService
    from ectui.services.users import UserService
    from ectui.services.vms import VmService
    from ectui.services.workflow import WorkflowService

log = logging.getLogger("ectui.services")


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
    operator_settings: OperatorSettingsService
    stats: StatsService
    resize: ResizeService
    workflow: WorkflowService
    billing: BillingService
    audit: AuditService
    users: UserService
    readonly_flag: bool = False

    async def start(self) -> None:
        """Migrate the console database, load the installed license, and undo creates a crash left half-made.

        A `create_vm` operation still `running` whose owner is gone (see OperationEngine.stale_running_sync)
        is compensated here: what it made in the cloud is deleted and its reservation released. A
        console started with --readonly leaves them for a writable one. A cloud that cannot be reached
        leaves the operation as it is, for the next start.
        """
        self.settings.ensure_dirs()
        await asyncio.to_thread(self.db.migrate)
        await self.license.status()
        if not self.readonly_flag:
            try:
                await self.vms.recover_interrupted()
            except Exception as err:  # never keep the console from starting; the next start retries
                log.warning("recovery of interrupted operations failed: %s", err)
            try:  # resizes: resumed when the resize reached the cloud, else compensated
                await self.resize.resume_interrupted()
            except Exception as err:  # never keep the console from starting; the next start retries
                log.warning("recovery of interrupted resizes failed: %s", err)

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
    from ectui.services.audit import AuditService
    from ectui.services.billing import BillingService
    from ectui.services.clusters import ClusterService, cluster_usage
    from ectui.services.images import ImageService
    from ectui.services.isos import IsoService
    from ectui.services.keypairs import KeypairService
    from ectui.services.license import ConsoleLicenseService, Usage
    from ectui.services.operator_settings import OperatorSettingsService
    from ectui.services.projects import ProjectService
    from ectui.services.resize import ResizeService
    from ectui.services.secrets import LazyKeyFileBox
    from ectui.services.stats import StatsService
    from ectui.services.templates import TemplateService
    from ectui.services.users import UserService
    from ectui.services.vms import VmService
    from ectui.services.workflow import WorkflowService

    db = Database(settings.console_db_url, "console")
    box = LazyKeyFileBox(settings.console_key_file)

    def usage() -> Usage:
        clusters, nodes = cluster_usage(db)
        return Usage(clusters=clusters, nodes=nodes)

    operator_settings = OperatorSettingsService(db, settings)
    license_service = ConsoleLicenseService(
        settings,
        db,
        clock=clock,
        readonly=readonly,
        readonly_setting=operator_settings.readonly_sync,
        usage=usage,
        box=box,
    )
    license_service.audit = audit = AuditService(db, license_service, clock=clock)
    users = UserService(settings, db, license_service, audit, clock=clock)
    license_service.identity = users.resolve_identity  # who acts: ensure_writable refuses auditors
    return ConsoleServices(
        settings=settings,
        db=db,
        license=license_service,
        clusters=(clusters := ClusterService(db, box, license_service)),
        images=ImageService(db, clusters, license_service, settings),
        templates=TemplateService(db, license_service, settings),
        projects=(projects := ProjectService(settings, db, license_service)),
        isos=IsoService(db, clusters, license_service, settings),
        vms=(vms := VmService(db, clusters, projects, license_service, settings)),
        keypairs=KeypairService(db, clusters, projects, license_service, settings),
        operator_settings=operator_settings,
        stats=StatsService(db, license_service),
        resize=(resize := ResizeService(db, clusters, projects, license_service, vms, settings)),
        workflow=WorkflowService(db, box, projects, vms, resize, license_service, settings),
        billing=BillingService(db, license_service, settings, clock=clock, vms=vms),
        audit=audit,
        users=users,
        readonly_flag=readonly,
    )
