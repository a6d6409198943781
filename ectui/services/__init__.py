"""Services: all logic and I/O of ectui, with no UI imports. Built by the factories below, never at import."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ectui.config import Settings
    from ectui.db.session import Database
    from ectui.services.audit import AuditService
    from ectui.services.billing import BillingService
    from ectui.services.clusters import ClusterService
    from ectui.services.console import ConsoleService
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
    from ectui.services.secrets import LazyKeyFileBox
    from ectui.services.stats import StatsService
    from ectui.services.templates import TemplateService
    from ectui.services.users import UserService
    from ectui.services.vms import VmService
    from ectui.services.workflow import WorkflowService

log = logging.getLogger("ectui.services")


@dataclass(frozen=True)
class _Core:
    """The core group of the console's services, built together (ConsoleServices._core)."""

    license: ConsoleLicenseService
    audit: AuditService
    operator_settings: OperatorSettingsService
    users: UserService


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


class ConsoleServices:
    """Everything the console app and `ectui` commands use.

    Each service is built on first use (and its module imported then): a command that reads VMs from the
    database does not import the image, ISO, resize or workflow services, nor anything that talks to a
    cloud. Every service gets what it needs in its constructor; nothing is attached to a service after
    it is built.

    The core group is built together, in this order:
    1. `WhoActs` (ectui.services.identity): who acts now. It needs only the settings and the database.
    2. An audit log (`AuditService`) that records the identity `WhoActs` holds. The license service
       records its own changes (import, clock reset) there.
    3. `ConsoleLicenseService(audit=, identity=)`: at each status it has `WhoActs` resolve who acts.
       It reads the operator's read-only setting through a plain function of the database.
    4. `audit`: the same log, with reading (list, verify, CSV export) gated by the license. It is a second
       `AuditService` on the same database and identity: reading needs the license, and the license needs
       a log to write to, so the log the license writes to is built first, without the reader check.
       Both append to the one hash chain.
    5. `OperatorSettingsService(license=, audit=)` and `UserService(license, identity=, audit=)`, which
       tells `WhoActs` who logged in.

    Every audited service gets `audit=self.audit`. VMs report lifecycle events to their listeners: billing
    is built before the VM service and passed as one (`listeners=(billing,)`).
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        box: LazyKeyFileBox,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        readonly: bool = False,
        verify_audit: bool = True,
    ) -> None:
        self.settings = settings
        self.db = db
        self.box = box
        """The console's secret box (cluster passwords), its key file read on first use."""
        self.clock = clock
        self.readonly_flag = readonly
        self.verify_audit_at_start = verify_audit
        """Walk the audit hash chain in `start` (the TUI); one-shot commands leave it to `ectui audit verify`."""
        self.start_warnings: list[ServiceError] = []
        """What the start-up checks found that the operator should know (a broken audit chain); the app shows them."""
        self.recovered: list[Recovered] = []
        """What recovery of interrupted operations did (`recover`), the latest outcome of each, oldest first."""

    # -- the core group: who acts, audit, license, operator settings and users (see the class docstring)

    @cached_property
    def _core(self) -> _Core:
        from ectui.services.audit import AuditService
        from ectui.services.identity import WhoActs
        from ectui.services.license import ConsoleLicenseService, Usage
        from ectui.services.operator_settings import OperatorSettingsService, readonly_setting
        from ectui.services.users import UserService

        settings, db, clock = self.settings, self.db, self.clock

        def usage() -> Usage:
            from ectui.services.clusters import cluster_usage

            clusters, nodes = cluster_usage(db)
            return Usage(clusters=clusters, nodes=nodes)

        def readonly_chosen() -> bool:
            return readonly_setting(db, settings.operator)

        who = WhoActs(settings, db, clock=clock)
        license_service = ConsoleLicenseService(
            settings,
            db,
            clock=clock,
            readonly=self.readonly_flag,
            readonly_setting=readonly_chosen,
            usage=usage,
            box=self.box,
            audit=AuditService(db, who, clock=clock),
            identity=who,
        )
        audit = AuditService(db, who, clock=clock, license=license_service)
        return _Core(
            license=license_service,
            audit=audit,
            operator_settings=OperatorSettingsService(db, settings, license=license_service, audit=audit),
            users=UserService(settings, db, license_service, identity=who, audit=audit, clock=clock),
        )

    @property
    def license(self) -> ConsoleLicenseService:
        """The console license: status, policy (features, read-only, who acts), import."""
        return self._core.license

    @property
    def audit(self) -> AuditService:
        """The audit log and its hash chain."""
        return self._core.audit

    @property
    def operator_settings(self) -> OperatorSettingsService:
        """Settings the operator changes in the console (read-only mode, ...)."""
        return self._core.operator_settings

    @property
    def users(self) -> UserService:
        """Console accounts and who acts."""
        return self._core.users

    # -- the others, each on its own

    @cached_property
    def billing(self) -> BillingService:
        """Price list, metering and bills (a listener of the VM service's lifecycle events)."""
        from ectui.services.billing import BillingService

        return BillingService(self.db, self.license, self.settings, clock=self.clock, audit=self.audit)

    @cached_property
    def vms(self) -> VmService:
        """VMs of the projects: list, refresh from the clouds, lifecycle, recovery."""
        from ectui.services.vms import VmService

        return VmService(
            self.db,
            self.clusters,
            self.projects,
            self.license,
            self.settings,
            audit=self.audit,
            listeners=(self.billing,),
        )

    @cached_property
    def clusters(self) -> ClusterService:
        """Clusters (clouds) and their cloud connections."""
        from ectui.services.clusters import ClusterService

        return ClusterService(self.db, self.box, self.license, audit=self.audit)

    @cached_property
    def console(self) -> ConsoleService:
        """VM console log, serial console URL and the noVNC SSH tunnel line."""
        from ectui.services.console import ConsoleService

        return ConsoleService(self.vms, self.clusters)

    @cached_property
    def images(self) -> ImageService:
        """Glance images: sync, upload, enable."""
        from ectui.services.images import ImageService

        return ImageService(self.db, self.clusters, self.license, self.settings, audit=self.audit)

    @cached_property
    def templates(self) -> TemplateService:
        """System templates made from enabled images."""
        from ectui.services.templates import TemplateService

        return TemplateService(self.db, self.license, self.settings, audit=self.audit)

    @cached_property
    def projects(self) -> ProjectService:
        """Projects, their quotas and the current one."""
        from ectui.services.projects import ProjectService

        return ProjectService(self.settings, self.db, self.license, audit=self.audit)

    @cached_property
    def isos(self) -> IsoService:
        """ISO files on the clusters' FTP servers."""
        from ectui.services.isos import IsoService

        return IsoService(self.db, self.clusters, self.license, self.settings, audit=self.audit)

    @cached_property
    def keypairs(self) -> KeypairService:
        """SSH key pairs for VM logins."""
        from ectui.services.keypairs import KeypairService

        return KeypairService(
            self.db, self.clusters, self.projects, self.license, self.settings, audit=self.audit
        )

    @cached_property
    def stats(self) -> StatsService:
        """Usage statistics."""
        from ectui.services.stats import StatsService

        return StatsService(self.db, self.license)

    @cached_property
    def resize(self) -> ResizeService:
        """VM resizes (hot and cold) and their recovery; it reports resizes to billing like the VM service."""
        from ectui.services.resize import ResizeService

        return ResizeService(
            self.db,
            self.clusters,
            self.projects,
            self.license,
            self.vms,
            self.settings,
            audit=self.audit,
        )

    @cached_property
    def workflow(self) -> WorkflowService:
        """Requests and approvals."""
        from ectui.services.workflow import WorkflowService

        return WorkflowService(
            self.db,
            self.box,
            self.projects,
            self.vms,
            self.resize,
            self.license,
            self.settings,
            audit=self.audit,
        )

    async def start(self, *, recover: bool = True) -> None:
        """Migrate the console database, verify the audit chain, load the license, and undo half-made creates.

        A broken audit hash chain does not stop the console: it becomes a start-up warning (and a log line)
        naming the first entry where the chain breaks.

        Interrupted operations of every kind are recovered (`recover`). A console started with --readonly
        leaves them for a writable one. A cloud that cannot be reached leaves them for the next start
        (a rollback it could not finish: `cleanup_pending`, the quota still reserved). `recover=False`
        leaves them too: a command that only reads the console database (`ectui vm list`, `ectui image
        list` without --refresh) must not call the clouds nor change anything; the next changing command,
        the console or `ectui ops resume` recovers them.
        """
        self.settings.ensure_dirs()
        await asyncio.to_thread(self.db.migrate)
        if self.verify_audit_at_start:
            await self.check_audit_chain()
        await self.license.status()
        if recover and not self.readonly_flag:
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
        """Close cloud connections (of a cluster service that was built) and release database connections."""
        if "clusters" in self.__dict__:
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
    """Wire the console's services (each one is built on first use)."""
    from ectui.db.session import Database
    from ectui.services.secrets import LazyKeyFileBox

    db = Database(  # the default file in the data dir may be made; a given URL's directory must exist
        settings.console_db_url,
        "console",
        busy_timeout=settings.db_busy_timeout,
        create_dir=settings.db_url is None,
    )
    box = LazyKeyFileBox(settings.console_key_file)
    return ConsoleServices(settings, db, box, clock=clock, readonly=readonly, verify_audit=verify_audit)
