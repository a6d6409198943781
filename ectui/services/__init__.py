"""Services: all logic and I/O of ectui, with no UI imports. Built by the factories below, never at import."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.audit import AuditService
    from ectui.services.billing import BillingService
    from ectui.services.clusters import ClusterService
    from ectui.services.errors import ServiceError
    from ectui.services.images import ImageService
    from ectui.services.isos import IsoService
    from ectui.services.issuer import IssuerService
    from ectui.services.keypairs import KeypairService
    from ectui.services.license import ConsoleLicenseService
    from ectui.services.operations.engine import Recovered
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
    verify_audit_at_start: bool = True
    """Walk the audit hash chain in `start` (the TUI); one-shot commands leave it to `ectui audit verify`."""
    start_warnings: list[ServiceError] = field(default_factory=list)
    """What the start-up checks found that the operator should know (a broken audit chain); the app shows them."""
    recovered: list[Recovered] = field(default_factory=list)
    """What recovery of interrupted operations did (`recover`), the latest outcome of each, oldest first."""

    async def start(self) -> None:
        """Migrate the console database, verify the audit chain, load the license, and undo half-made creates.

        A broken audit hash chain does not stop the console: it becomes a start-up warning (and a log line)
        naming the first entry where the chain breaks.

        Interrupted operations of every kind are recovered (`recover`). A console started with --readonly
        leaves them for a writable one. A cloud that cannot be reached leaves them for the next start
        (a rollback it could not finish: `cleanup_pending`, the quota still reserved).
        """
        self.settings.ensure_dirs()
        await asyncio.to_thread(self.db.migrate)
        if self.verify_audit_at_start:
            await self.check_audit_chain()
        await self.license.status()
        if not self.readonly_flag:
            await self.recover()

    async def recover(self) -> list[Recovered]:
        """Recover what dead consoles left running, and retry every pending cleanup (start, `ops resume`).

        Every kind: VM creates (compensated, or rolled forward once recorded), deletes, snapshots and ISO
        mounts (see VmService.recover_interrupted), resizes (resumed when the resize reached the cloud,
        else compensated) and image uploads (the half-made Glance image deleted). Only operations whose
        owner is gone are touched. A rollback that cannot reach the cloud leaves the operation
        `cleanup_pending`, its quota still reserved, for the next start or `ectui ops resume`. Returns
        what this call did; `recovered` keeps the latest outcome of each operation since start.
        """
        done: list[Recovered] = []
        for name, recover in (
            ("VM operations", self.vms.recover_interrupted),
            ("resizes", self.resize.resume_interrupted),
            ("image uploads", self.images.recover_uploads),
        ):
            try:
                done += await recover()
            except Exception as err:  # never keep the console from starting; the next start retries
                log.warning("recovery of interrupted %s failed: %s", name, err)
        ids = {r.operation.id for r in done}
        self.recovered = [r for r in self.recovered if r.operation.id not in ids] + done
        return done

    async def check_audit_chain(self) -> None:
        """The start-up check of the audit log's hash chain: a break becomes a warning, never a failure."""
        try:
            verdict = await self.audit.check_at_start()
        except Exception as err:  # never keep the console from starting
            log.warning("audit chain check failed: %s", type(err).__name__)
            return
        if verdict.error is not None:
            log.warning("audit chain broken: %s", verdict.error)
            self.start_warnings.append(verdict.error)

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

    db = Database(  # the default file in the data dir may be made; a given URL's directory must exist
        settings.issuer_url,
        "issuer",
        busy_timeout=settings.db_busy_timeout,
        create_dir=settings.issuer_db_url is None,
    )
    return IssuerServices(settings=settings, db=db, issuer=IssuerService(settings, db, today=today))


def build_console_services(
    settings: Settings,
    *,
    clock: Callable[[], dt.datetime] | None = None,
    readonly: bool = False,
    verify_audit: bool = True,
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

    db = Database(  # the default file in the data dir may be made; a given URL's directory must exist
        settings.console_db_url,
        "console",
        busy_timeout=settings.db_busy_timeout,
        create_dir=settings.db_url is None,
    )
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
    operator_settings.bind(license_service)  # who acts: auditors may not switch read-only; changes audited
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
        verify_audit_at_start=verify_audit,
    )
