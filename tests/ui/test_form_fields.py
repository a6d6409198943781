"""Forms mark the field a refusal names by its field id, never by its label.

Each form's mapping (field id → widget) covers the ids its service raises and nothing else; each form,
given one wrong value, marks and focuses that value's widget, in English and in Chinese alike.
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, cast

import pytest
from textual.app import App
from textual.widgets import Input, Select
from uikit import settle

from ectui.i18n import set_language
from ectui.screens import billing as billing_screen
from ectui.screens import clusters as clusters_screen
from ectui.screens import editions as editions_screen
from ectui.screens import images as images_screen
from ectui.screens import isos as isos_screen
from ectui.screens import licenses as licenses_screen
from ectui.screens import projects as projects_screen
from ectui.screens import templates as templates_screen
from ectui.screens import users as users_screen
from ectui.screens.vms import common as vm_common
from ectui.screens.vms import create as vm_create_screen
from ectui.screens.vms import resize as resize_screen
from ectui.services import billing, clusters, images, isos, issuer, keypairs, projects, templates, users
from ectui.services.errors import ValidationError
from ectui.services.resize import service as resize_service
from ectui.services.vms import create as vm_create
from ectui.services.vms import model as vm_model
from ectui.widgets import cluster_form
from ectui.widgets.forms import field_widget
from ectui.widgets.modals import ShellModal


def raised_ids(module: ModuleType, *names: str) -> set[str]:
    """The constant `field_id=` values of the named functions of `module` ('Class.method' or 'function'),
    following calls to the module's own functions; every function of the module when no name is given."""
    tree = ast.parse(inspect.getsource(module))
    defs: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defs[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    defs[f"{node.name}.{item.name}"] = item
    todo, seen, ids = list(names or defs), set[str](), set[str]()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        assert name in defs, f"{module.__name__} has no {name}"
        seen.add(name)
        for call in (n for n in ast.walk(defs[name]) if isinstance(n, ast.Call)):
            for keyword in call.keywords:
                if keyword.arg == "field_id" and isinstance(keyword.value, ast.Constant):
                    ids.add(keyword.value.value)
            if isinstance(call.func, ast.Name) and call.func.id in defs:
                todo.append(call.func.id)
    return ids


PRICE_IDS = {attr for attr, _label in billing.PRICE_FIELDS}

MAPPINGS: dict[str, tuple[Mapping[str, str], set[str]]] = {
    "vm create": (
        vm_common.VM_FIELDS,
        raised_ids(vm_model, "VmDraft.parse") | raised_ids(vm_create),
    ),
    "key import": (vm_common.KEY_FIELDS, raised_ids(keypairs)),
    "resize": (resize_screen.RESIZE_FIELDS, raised_ids(resize_service)),
    "user": (users_screen.USER_FIELDS, raised_ids(users, "UserDraft.parse")),
    "project": (
        projects_screen.PROJECT_FIELDS,
        raised_ids(projects, "ProjectDraft.parse") - {"description"},  # the form has no description
    ),
    "template": (templates_screen.TEMPLATE_FIELDS, raised_ids(templates, "TemplateDraft.parse")),
    "cluster": (
        cluster_form.CLUSTER_FIELDS,
        raised_ids(clusters, "ClusterDraft.parse", "ClusterService._apply"),
    ),
    "ftp": (clusters_screen.FTP_FIELDS, raised_ids(clusters, "FtpDraft.parse")),
    "image upload": (images_screen.UPLOAD_FIELDS, raised_ids(images, "ImageUpload.parse")),
    "iso upload": (isos_screen.UPLOAD_FIELDS, raised_ids(isos, "IsoUploadRequest.parse")),
    "iso edit": (isos_screen.EDIT_FIELDS, raised_ids(isos, "IsoEdit.parse")),
    "price": (billing_screen.PRICE_FIELDS, raised_ids(billing, "PriceDraft.parse") | PRICE_IDS),
    "bill": (billing_screen.BILL_FIELDS, raised_ids(billing, "parse_month", "BillingService.bill")),
    "edition": (editions_screen.FIELD_INPUTS, raised_ids(issuer, "EditionDraft.parse")),
    "license": (
        licenses_screen.LICENSE_FIELDS,
        raised_ids(issuer, "LicenseDraft.parse", "LicenseChanges.parse"),
    ),
}


@pytest.mark.parametrize("form", sorted(MAPPINGS))
def test_each_form_maps_exactly_the_field_ids_its_service_raises(form: str) -> None:
    fields, ids = MAPPINGS[form]
    assert ids, "no field_id found: the service's parser moved or was renamed"
    assert set(fields) == ids, f"missing: {ids - set(fields)}; not raised: {set(fields) - ids}"


def test_vm_create_form_keeps_refusals_for_field_ids_it_maps() -> None:
    assert vm_create_screen.REFUSAL_FIELDS.issubset(vm_common.VM_FIELDS)


@pytest.mark.parametrize("form", sorted(MAPPINGS))
def test_the_widget_is_found_by_field_id_whatever_the_label(form: str) -> None:
    fields, _ids = MAPPINGS[form]
    for field_id, widget in fields.items():
        translated = ValidationError("validation.required", field="某字段", field_id=field_id)
        assert field_widget(fields, translated) == widget
        label_only = ValidationError("validation.required", field=field_id.replace("_", " ").title())
        assert field_widget(fields, label_only) is None


@dataclass
class FormCase:
    """A form opened alone, the values typed into it (one of them wrong) and the widget it must mark."""

    make: Callable[[Path], ShellModal[Any]]
    values: dict[str, str]
    invalid: str
    files: list[str] = field(default_factory=list)
    """Files made under tmp_path first; '{tmp}' in a value is tmp_path."""


CASES: dict[str, FormCase] = {
    "user": FormCase(
        lambda _tmp: users_screen.NewUserModal(),
        {
            "user-name": "alice",
            "user-role": "operator",
            "user-password": "Secret-pass-123",
            "user-confirm": "Secret-pass-124",
        },  # fmt: skip
        "user-confirm",
    ),
    "project": FormCase(
        lambda _tmp: projects_screen.ProjectFormModal(clusters=["dc1"]),
        {"project-name": "web", "project-vcpus": "8", "project-ram": "-1", "project-vms": "4"},
        "project-ram",
    ),
    "template": FormCase(
        lambda _tmp: templates_screen.TemplateFormModal([]),
        {"template-name": "small", "template-os-type": "linux"},
        "template-image",
    ),
    "iso upload": FormCase(
        lambda _tmp: isos_screen.UploadIsoModal("dc1"),
        {"iso-path": "{tmp}/boot.iso", "iso-name": "Boot", "iso-os-type": "beos"},
        "iso-os-type",
        ["boot.iso"],
    ),
    "iso edit": FormCase(
        lambda _tmp: isos_screen.EditIsoModal(
            cast(Any, SimpleNamespace(file_name="boot.iso", name="Boot", os_type="linux", description=""))
        ),
        {"iso-edit-os-type": "beos"},
        "iso-edit-os-type",
    ),
    "image upload": FormCase(
        lambda _tmp: images_screen.UploadImageModal("dc1"),
        {"upload-file": "{tmp}/disk.qcow2", "upload-disk-format": "qcow2", "upload-min-ram": "lots"},
        "upload-min-ram",
        ["disk.qcow2"],
    ),
    "price": FormCase(
        lambda _tmp: billing_screen.PriceFormModal(None, dt.date(2030, 6, 20)),
        {"price-vcpu": "0.01", "price-ram": "0.005", "price-ip": "0.02", "price-from": "2030-13-01"},
        "price-from",
    ),
    "bill": FormCase(
        lambda _tmp: billing_screen.ChooseBillModal("web", "2030-06", ["web"]),
        {"bill-month": "June"},
        "bill-month",
    ),
    "ftp": FormCase(
        lambda _tmp: clusters_screen.FtpFormModal(cast(Any, SimpleNamespace(name="dc1", ftp=""))),
        {
            "ftp-host": "ftp.example",
            "ftp-port": "port",
            "ftp-user": "iso",
            "ftp-password": "pw",
            "ftp-dir": "/iso",
        },  # fmt: skip
        "ftp-port",
    ),
    "key import": FormCase(
        lambda _tmp: vm_create_screen.ImportKeypairModal(),
        {"key-name": "laptop", "key-path": "{tmp}/missing.pub"},
        "key-path",
    ),
    "license": FormCase(
        lambda _tmp: licenses_screen.LicenseFormModal(["standard"]),
        {"license-customer": "ACME", "license-valid-from": "2030-01-01", "license-valid-to": "2029-01-01"},
        "license-valid-to",
    ),
}


class FormHost(App[None]):
    """A bare app showing one form."""

    def __init__(self, form: ShellModal[Any]) -> None:
        super().__init__()
        self.form = form

    def on_mount(self) -> None:
        self.push_screen(self.form)


@pytest.fixture(params=["en", "zh_CN"])
def lang(request: pytest.FixtureRequest) -> Iterator[str]:
    set_language(request.param)
    yield request.param
    set_language("en")


@pytest.mark.parametrize("form", sorted(CASES))
async def test_a_wrong_value_marks_and_focuses_its_widget(form: str, lang: str, tmp_path: Path) -> None:
    case = CASES[form]
    for name in case.files:
        (tmp_path / name).write_bytes(b"\0" * 512)
    modal = case.make(tmp_path)
    app = FormHost(modal)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot, lambda: app.screen is modal)
        for widget_id, value in case.values.items():
            modal.query_one(f"#{widget_id}", Input).value = value.format(tmp=tmp_path)
        if form == "license":
            modal.query_one("#license-edition", Select).value = "standard"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is modal
        marked = [w.id for w in modal.query(".-invalid")]
        assert marked == [case.invalid], (lang, marked)
        assert app.focused is not None and app.focused.id == case.invalid
