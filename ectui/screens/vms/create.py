"""The VM create form, and the key-pair import it offers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button

from ectui.i18n import N_, _, render
from ectui.jobs import Job
from ectui.screens.vms.common import AUTO, KEY_FIELDS, VM_FIELDS
from ectui.services.errors import ServiceError, ValidationError
from ectui.widgets import PathInput, PlainCheckbox, ShellModal
from ectui.widgets.forms import mark_field
from ectui.widgets.literal import Input, Label, Select, Static
from ectui.widgets.password_rules import PasswordRules

if TYPE_CHECKING:
    from ectui.services import ConsoleServices
    from ectui.services.vms import (
        FormChoices,
        TemplateChoice,
        VmDraft,
    )


REFUSAL_FIELDS = frozenset({"template", "placement", "node", "network"})
"""Fields that are empty when no VM can be created here (no project, no cluster): the refusal explains them."""


class ImportKeypairModal(ShellModal["tuple[str, str] | None"]):
    """Import an SSH public key file as a key pair: returns (name, path)."""

    BINDINGS = [Binding("ctrl+s", "submit", _("Import"), id="import_key.submit")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="import-key-box"):
            yield Label(_("Import a public key"), classes="modal-title")
            with Horizontal(classes="form-row"):
                yield Label(_("Key pair name"))
                yield Input(id="key-name")
            with Horizontal(classes="form-row"):
                yield Label(_("Public key file"))
                yield PathInput("~/.ssh/", id="key-path")
            yield Static(id="key-error", classes="modal-error")
            yield Label(_("Tab: complete the path · Ctrl+S: import · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="key-cancel")
                yield Button(_("Import"), id="key-import", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#key-name", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#key-import")
    def action_submit(self) -> None:
        """Return the name and the file path (the form imports it and shows refusals)."""
        name = self.query_one("#key-name", Input).value.strip()
        path = self.query_one("#key-path", PathInput).path
        if not name:
            mark_field(
                self,
                KEY_FIELDS,
                "key-error",
                ValidationError("validation.required", field=N_("Key pair name"), field_id="name"),
            )
            return
        if path is None or not path.is_file():
            mark_field(
                self,
                KEY_FIELDS,
                "key-error",
                ValidationError("validation.required", field=N_("Public key file"), field_id="public_key"),
            )
            return
        self.dismiss((name, str(path)))

    def show_error(self, message: str) -> None:
        """Show a refusal (used by the form when the import fails)."""
        self.query_one("#key-error", Static).update(message)


@dataclass
class CreateRun:
    """A create job started for the form, and the refusal it ended with (if any)."""

    name: str = ""
    job: Job | None = None
    error: ServiceError | None = None
    form_waiting: bool = True
    """The form is still open and shows how the job ends (refusals before anything was made)."""


CreateStarter = Callable[["VmDraft"], CreateRun]
"""Starts the create job of a validated draft (the VMs screen does, so that it outlives the form)."""


class CreateVmModal(ShellModal["Job | None"]):
    """The create form (fields in order); refusals of the create flow are shown on the form."""

    BINDINGS = [
        Binding("ctrl+s", "submit", _("Create"), id="create_vm.submit"),
        Binding("ctrl+o", "import_key", _("Import key"), id="create_vm.import_key"),
    ]

    def __init__(self, services: ConsoleServices, choices: FormChoices, project: str | None,
                 start_create: CreateStarter, *, refusal: ServiceError | None = None) -> None:  # fmt: skip
        super().__init__()
        self.services = services
        self.choices = choices
        self.refusal = refusal
        """Why no VM can be created here at all (no project, no cluster): shown on the form."""
        self.project = project
        self.start_create = start_create
        self.run: CreateRun | None = None
        """The create job while the form waits for its first step (or its refusal)."""
        self.keypairs = list(choices.keypairs)

    # -- layout

    def compose(self) -> ComposeResult:
        c = self.choices
        system = [
            (f"{_('System')} · {t.name} ({t.os_type})", t.id) for t in c.templates if t.kind == "system"
        ]
        custom = [
            (f"{_('Custom')} · {t.name} ({t.os_type})", t.id) for t in c.templates if t.kind != "system"
        ]
        nodes: list[tuple[str, str]] = [(_("System placement (the cloud chooses)"), AUTO)]
        nodes += [
            (_("{name} · {zone} · {cpu} vCPU, {ram} GB free{state}").format(
                name=n.name, zone=n.zone or "—", cpu=n.vcpus_free, ram=n.ram_gb_free,
                state="" if n.state in ("", "up", "enabled") else f" · {n.state}"), n.name)
            for n in c.nodes
        ]  # fmt: skip
        networks = [(n.name, n.id) for n in c.networks if not n.external]
        with Vertical(classes="modal-box", id="vm-form-box"):
            yield Label(
                _("New VM in project {project} · cluster {cluster}").format(
                    project=self.project or "—", cluster=c.cluster or "—"
                ),
                classes="modal-title",
            )
            with VerticalScroll(id="vm-form-scroll"):
                with Horizontal(classes="form-row"):
                    yield Label(_("Name *"))
                    yield Input(id="vm-name", max_length=255)
                with Horizontal(classes="form-row"):
                    yield Label(_("Template *"))
                    yield Select(system + custom, prompt=_("choose a template"), id="vm-template")
                with Horizontal(classes="form-row"):
                    yield Label(_("Node *"))
                    yield Select(nodes, prompt=_("choose a node"), id="vm-node")
                with Horizontal(classes="form-row"):
                    yield Label(_("Login *"))
                    yield Select(
                        [(_("password"), "password"), (_("key pair"), "keypair")],
                        value="password",
                        allow_blank=False,
                        id="vm-login",
                    )
                with Horizontal(classes="form-row", id="vm-keypair-row"):
                    yield Label(_("Key pair *"))
                    yield Select(
                        [(k, k) for k in self.keypairs], prompt=_("choose a key pair"), id="vm-keypair"
                    )
                    yield Button(_("Import…"), id="vm-import-key", classes="inline-button")
                with Horizontal(classes="form-row"):
                    yield Label(_("User name"))
                    yield Static("—", id="vm-user-name", markup=False)
                with Horizontal(classes="form-row vm-password-row"):
                    yield Label(_("Password *"))
                    yield Input(id="vm-password", password=True, max_length=64)
                with Horizontal(classes="form-row vm-password-row"):
                    yield Label(_("Confirm *"))
                    yield Input(id="vm-password-confirm", password=True, max_length=64)
                yield PasswordRules(id="vm-password-rules", classes="vm-password-row")
                with Horizontal(classes="form-row"):
                    yield Label(_("CPU cores *"))
                    yield Input(id="vm-cpu", type="integer", max_length=4)
                    yield Static("", id="vm-cpu-hint", classes="vm-hint", markup=False)
                with Horizontal(classes="form-row"):
                    yield Label(_("RAM GB *"))
                    yield Input(id="vm-ram", type="integer", max_length=5)
                    yield Static("", id="vm-ram-hint", classes="vm-hint", markup=False)
                with Horizontal(classes="form-row"):
                    yield Label(_("Description"))
                    yield Input(id="vm-description")
                with Horizontal(classes="form-row"):
                    yield Label(_("Network *"))
                    yield Select(
                        networks,
                        prompt=_("choose a private network"),
                        value=networks[0][1] if len(networks) == 1 else Select.NULL,
                        id="vm-network",
                    )
                with Horizontal(classes="form-row"):
                    yield Label(_("Public IP"))
                    yield PlainCheckbox(_("attach a public IP"), False, id="vm-public-ip")
            yield Static(id="vm-error", classes="modal-error", markup=False)
            yield Label(_("Ctrl+S: create · Ctrl+O: import a key · Esc: cancel"), classes="modal-hint")
            with Horizontal(classes="modal-buttons"):
                yield Button(_("Cancel"), id="vm-cancel")
                yield Button(_("Create"), id="vm-create", variant="primary")

    def on_mount(self) -> None:
        self.show_login("password")
        self.update_hints()
        self.show_password_rules("")
        if self.refusal is not None:
            self.query_one("#vm-error", Static).update(render(self.refusal))
        self.query_one("#vm-name", Input).focus()

    # -- live parts of the form

    def template(self) -> TemplateChoice | None:
        """The chosen template."""
        value = self.query_one("#vm-template", Select).value
        return next((t for t in self.choices.templates if t.id == value), None)

    def node_name(self) -> str | None:
        """The chosen node (None for system placement or nothing chosen)."""
        value = self.query_one("#vm-node", Select).value
        return value if isinstance(value, str) and value != AUTO else None

    def update_hints(self) -> None:
        """User name from the template's OS; CPU and RAM hints from the template minimums and the node's room."""
        from ectui.services.vms import user_name_for

        template = self.template()
        node = next((n for n in self.choices.nodes if n.name == self.node_name()), None)
        self.query_one("#vm-user-name", Static).update(user_name_for(template.os_type) if template else "—")
        cpu: list[str] = []
        ram: list[str] = []
        if template:
            cpu.append(_("min {n}").format(n=template.min_cpu))
            ram.append(_("min {n}").format(n=template.min_ram_gb))
        if node:
            cpu.append(_("{n} free").format(n=node.vcpus_free))
            ram.append(_("{n} free").format(n=node.ram_gb_free))
        self.query_one("#vm-cpu-hint", Static).update(" · ".join(cpu))
        self.query_one("#vm-ram-hint", Static).update(" · ".join(ram))

    def show_login(self, login: str) -> None:
        """Password rows for password login, the key pair row for key pair login."""
        self.query_one("#vm-keypair-row").display = login == "keypair"
        for row in self.query(".vm-password-row"):
            row.display = login == "password"

    def show_password_rules(self, password: str) -> None:
        """Mark each complexity rule met or not."""
        from ectui.services.vms import password_checks

        self.query_one("#vm-password-rules", PasswordRules).show(password_checks(password))

    @on(Select.Changed, "#vm-template")
    @on(Select.Changed, "#vm-node")
    def choice_changed(self) -> None:
        self.update_hints()

    @on(Select.Changed, "#vm-login")
    def login_changed(self, event: Select.Changed) -> None:
        self.show_login(str(event.value))

    @on(Input.Changed, "#vm-password")
    def password_changed(self, event: Input.Changed) -> None:
        self.show_password_rules(event.value)

    # -- key pair import

    @on(Button.Pressed, "#vm-import-key")
    def action_import_key(self) -> None:
        """Import an SSH public key file as a new key pair and choose it."""

        def chosen(result: tuple[str, str] | None) -> None:
            if result is not None:
                self.import_key(*result)

        self.app.push_screen(ImportKeypairModal(), callback=chosen)

    @work(group="vm-form-key", exit_on_error=False)
    async def import_key(self, name: str, path: str) -> None:
        try:  # read bounded by the service: a FIFO or /dev/zero is refused at once
            info = await self.services.keypairs.import_key_file(name, path, cluster=self.choices.cluster)
        except OSError as err:
            self.query_one("#vm-error", Static).update(
                _("Cannot read {path}: {reason}").format(path=path, reason=err.strerror)
            )
            return
        except ServiceError as err:
            self.query_one("#vm-error", Static).update(render(err))
            return
        if info.name not in self.keypairs:
            self.keypairs.append(info.name)
        select = self.query_one("#vm-keypair", Select)
        select.set_options([(k, k) for k in self.keypairs])
        select.value = info.name
        self.query_one("#vm-login", Select).value = "keypair"
        self.query_one("#vm-error", Static).update(_("Key pair {name} imported.").format(name=info.name))

    # -- submit

    def draft(self) -> VmDraft:
        """Validate the form (the first step of the create flow); then the flow's refusals that the form can see (steps 2-4)."""
        from ectui.services.vms import VmDraft

        def value(input_id: str) -> str:
            return self.query_one(f"#{input_id}", Input).value

        def choice(select_id: str) -> Any:
            v = self.query_one(f"#{select_id}", Select).value
            return None if v == Select.NULL else v

        node = choice("vm-node")
        login = choice("vm-login") or "password"
        return VmDraft.parse(
            name=value("vm-name"),
            template_id=choice("vm-template"),
            placement=AUTO if node == AUTO else "manual",
            node=None if node == AUTO else node,
            login=login,
            password=value("vm-password") if login == "password" else "",
            password_confirm=value("vm-password-confirm") if login == "password" else "",
            keypair=choice("vm-keypair") if login == "keypair" else None,
            cpu=value("vm-cpu"),
            ram_gb=value("vm-ram"),
            description=value("vm-description"),
            network=choice("vm-network"),
            public_ip=self.query_one("#vm-public-ip", PlainCheckbox).value,
        )

    @on(Input.Submitted)
    @on(Button.Pressed, "#vm-create")
    def action_submit(self) -> None:
        """Validate, then start the create job; the form closes once the job is past the flow's checks."""
        if self.run is not None:
            return
        if self.refusal is not None:  # the fields first, then why the flow cannot go on
            try:
                self.draft()
            except ServiceError as err:
                if not isinstance(err, ValidationError) or err.field_id not in REFUSAL_FIELDS:
                    mark_field(self, VM_FIELDS, "vm-error", err)
                    return
            mark_field(self, VM_FIELDS, "vm-error", self.refusal)
            return
        try:
            draft = self.draft()
        except ServiceError as err:
            mark_field(self, VM_FIELDS, "vm-error", err)
            return
        for widget in self.query(".-invalid"):
            widget.remove_class("-invalid")
        self.query_one("#vm-error", Static).update(_("Checking…"))
        self.busy = True
        self.add_class("-busy")
        self.run = self.start_create(draft)
        self.console.jobs.signal.subscribe(self, self.job_changed)
        if self.run.job is not None:  # it may have ended before the subscription
            self.job_changed(self.run.job)

    def job_changed(self, job: Job) -> None:
        """Close once the quota is reserved (first step done); a refusal before that stays on the form."""
        run = self.run
        if run is None or run.job is None or job.id != run.job.id or not self.is_attached:
            return
        job = self.console.jobs.get(job.id) or job
        progress = job.progress
        started = progress is not None and progress.step not in ("reserve", "rollback")
        if job.state == "running" and not started:
            return
        run.form_waiting = False
        if job.state in ("failed", "cancelled"):
            self.run = None
            self.busy = False
            self.remove_class("-busy")
            self.query_one("#vm-error", Static).update(job.message)
            if run.error is not None:
                mark_field(self, VM_FIELDS, "vm-error", run.error)
            return
        self.busy = False
        self.dismiss(job)
