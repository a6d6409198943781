"""VMs against the real dev cloud: validation, refusals in V2 order, create with rollback, actions, refresh."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ectui.config import Settings
from ectui.db.models import Operation, Vm
from ectui.devcloud import DevCloudHandle
from ectui.i18n import render, set_language
from ectui.services import build_console_services, build_issuer_services
from ectui.services.errors import LicenseError, ReadOnlyError, ServiceError, ValidationError
from ectui.services.progress import Cancelled, CancelToken, Progress
from ectui.services.projects import ProjectDraft, QuotaError
from ectui.services.vms import VmDraft, VmError, password_checks, sha512_crypt, user_name_for
from tests.kit import CONSOLE_NOW, Clock, build_licensed_console
from tests.kit.cloud import cluster_draft, fault
from tests.kit.vms import PASSWORD, PUBLIC_KEY, Env, assert_nothing_left, assert_quota_free, draft


def vm_rows(env: Env) -> list[str]:
    with env.s.db.session() as session:
        return list(session.scalars(select(Vm.name)))


# ------------------------------------------------------------------ validation (step 1 of V2)


@pytest.mark.parametrize(
    ("over", "key", "field"),
    [
        ({"name": ""}, "validation.required", "Name"),
        ({"name": "-bad name"}, "vm.bad_name", "Name"),
        ({"template_id": ""}, "validation.required", "Template"),
        ({"template_id": "x"}, "validation.int", "Template"),
        ({"placement": "magic"}, "validation.choice", "Node"),
        ({"node": ""}, "validation.required", "Node"),
        ({"login": "telepathy"}, "validation.choice", "Login method"),
        ({"password": ""}, "validation.required", "Password"),
        ({"password": "short1!", "password_confirm": "short1!"}, "vm.password_weak", "Password"),
        (
            {"password": "alllowercase1!", "password_confirm": "alllowercase1!"},
            "vm.password_weak",
            "Password",
        ),
        ({"password_confirm": "Other3t!pass"}, "vm.password_mismatch", "Confirm password"),
        ({"login": "keypair", "keypair": ""}, "validation.required", "Key pair"),
        ({"cpu": "0"}, "validation.positive", "CPU"),
        ({"cpu": "two"}, "validation.int", "CPU"),
        ({"ram_gb": ""}, "validation.required", "RAM (GB)"),
        ({"ram_gb": "99999999"}, "validation.too_large", "RAM (GB)"),
        ({"description": "x" * 2001}, "validation.too_long", "Description"),
        ({"network": " "}, "validation.required", "Private network"),
    ],
)
def test_each_field_has_a_clear_message(over: dict[str, Any], key: str, field: str) -> None:
    fields: dict[str, Any] = {
        "name": "vm1", "template_id": 1, "placement": "manual", "node": "node-1", "login": "password",
        "password": PASSWORD, "password_confirm": PASSWORD, "cpu": "1", "ram_gb": "1", "network": "private",
    }  # fmt: skip
    fields.update(over)
    with pytest.raises(ValidationError) as caught:
        VmDraft.parse(**fields)
    assert (caught.value.key, caught.value.field) == (key, field)
    assert field in render(caught.value)
    assert PASSWORD not in render(caught.value)


def test_password_rules_shown_live_and_hash_is_sha512_crypt() -> None:
    checks = {code: ok for code, _label, ok in password_checks("abc")}
    assert checks == {"length": False, "upper": False, "lower": True, "digit": False, "special": False}
    assert all(ok for _c, _l, ok in password_checks(PASSWORD))
    assert user_name_for("linux") == "root" and user_name_for("windows") == "administrator"
    hashed = sha512_crypt(PASSWORD, "saltsaltsaltsalt")
    assert hashed.startswith("$6$saltsaltsaltsalt$") and len(hashed.split("$")[3]) == 86
    # the known answers of the algorithm are checked in test_sha512_crypt.py, on every Python version


async def test_template_minimums_are_field_errors(env: Env) -> None:
    with pytest.raises(ValidationError) as caught:
        await env.s.vms.create(draft(env, template_id=env.windows, cpu="1"))
    assert caught.value.field == "CPU" and "at least 2" in render(caught.value)
    with pytest.raises(ValidationError) as caught:
        await env.s.vms.create(draft(env, template_id=999))
    assert caught.value.field == "Template"
    with pytest.raises(ValidationError) as caught:
        await env.s.vms.create(draft(env, login="keypair", keypair="nokey"))
    assert caught.value.field == "Key pair"
    with pytest.raises(ValidationError) as caught:
        await env.s.vms.create(draft(env, network="public"))
    assert caught.value.field == "Private network" and "external" in render(caught.value)
    assert vm_rows(env) == []


# ------------------------------------------------------------------ refusals in V2 order


async def test_refusals_in_order(
    env: Env, tmp_path: Path, settings_for: Callable[..., Settings], make_license: Callable[..., Any]
) -> None:
    # 2. no project selected (the other console has a license, no project, no cluster)
    bare = await build_licensed_console(tmp_path / "bare", storage="local,shared", operator="alice")
    try:
        with pytest.raises(QuotaError) as caught:
            await bare.vms.create(draft(env))
        assert caught.value.key == "project.none_selected"
        # 3. a project, but no cluster configured
        await bare.projects.add(ProjectDraft.parse(name="p", vcpus="4", ram_gb="4", vms="1"))
        await bare.projects.use("p")
        with pytest.raises(VmError) as caught:
            await bare.vms.create(draft(env))
        assert caught.value.key == "vm.no_cluster"
    finally:
        bare.close()
    # 4a. system placement on a local-storage cluster
    auth = env.cloud.cloud.cloud_config()["auth"]
    await env.s.clusters.update("dc1", cluster_draft(env.cloud, storage="local"))
    with pytest.raises(VmError) as caught:
        await env.s.vms.create(draft(env, placement="auto", node=None, cpu="99"))
    assert caught.value.key == "vm.local_auto_placement"
    assert auth["password"] not in render(caught.value)
    # 4b. a manual node without the room (checked before the quota: 33 vCPU > 32 free and > quota 16)
    with pytest.raises(VmError) as caught:
        await env.s.vms.create(draft(env, cpu="33"))
    assert caught.value.key == "vm.node_full" and "node-2" in render(caught.value)
    with pytest.raises(VmError) as caught:
        await env.s.vms.create(draft(env, node="node-9"))
    assert caught.value.key == "vm.node_not_found"
    # 5. the quota
    with pytest.raises(QuotaError) as caught:
        await env.s.vms.create(draft(env, cpu="17"))
    assert caught.value.key == "project.quota_exceeded" and "vCPU" in render(caught.value)
    assert_nothing_left(env, "vm1")
    await assert_quota_free(env)


def test_refusals_have_the_exact_chinese_text() -> None:
    try:
        set_language("zh_CN")
        assert render(QuotaError("project.none_selected")) == "请先选择项目！"
        assert render(VmError("vm.no_cluster")) == "请先配置集群信息！"
        assert render(VmError("vm.local_auto_placement")) == "本地存储节点不能系统适配！"
    finally:
        set_language("en")


# ------------------------------------------------------------------ create


async def test_create_on_a_forced_node_with_password_and_public_ip(env: Env) -> None:
    seen: list[Progress] = []
    info = await env.s.vms.create(
        draft(env, public_ip=True, description="web front"), on_progress=seen.append
    )
    steps = [p.step for p in seen]
    for code in ("reserve", "flavor", "boot", "wait", "floating_ip", "record", "done"):
        assert code in steps
    assert all(p.total == 6 for p in seen) and seen[-1].done == 6
    assert info.name == "vm1" and info.status == "ACTIVE" and info.node == "node-2"
    assert (info.vcpus, info.ram_gb, info.disk_gb, info.user_name, info.login) == (
        2,
        2,
        1,
        "root",
        "password",
    )
    assert info.fixed_ip.startswith("10.0.0.") and info.floating_ip.startswith("172.24.4.")
    assert (
        info.project == "web"
        and info.cluster == "dc1"
        and info.template == "cirros"
        and info.created_by == "alice"
    )
    server = env.conn.compute.get_server(info.cloud_id)
    assert server.compute_host == "node-2"
    flavor = env.conn.compute.get_flavor(
        env.conn.compute.get(f"/servers/{info.cloud_id}").json()["server"]["flavor"]["id"]
    )
    assert flavor.name.startswith("ectui-vm1-") and not flavor.is_public
    assert (flavor.vcpus, flavor.ram, flavor.disk) == (2, 2048, 1)
    raw = env.conn.compute.get(f"/servers/{info.cloud_id}", microversion="2.73").json()["server"]
    user_data = base64.b64decode(raw["OS-EXT-SRV-ATTR:user_data"]).decode()
    assert "$6$" in user_data and "root:$6$" in user_data and PASSWORD not in user_data
    assert PASSWORD not in json.dumps(raw)
    [fip] = list(env.conn.network.ips())
    assert fip.floating_ip_address == info.floating_ip and fip.port_id
    project = await env.s.projects.get("web")
    assert project.used.to_json() == {"vcpus": 2, "ram_gb": 2, "vms": 1, "public_ips": 1}
    assert project.reserved.to_json() == {"vcpus": 0, "ram_gb": 0, "vms": 0, "public_ips": 0}
    [op] = await env.s.vms.history(info.id)
    assert op.kind == "create_vm" and op.state == "done" and all(s.state == "done" for s in op.steps)
    with env.s.db.session() as session:
        params = session.scalar(select(Operation.params))
    assert params is not None and PASSWORD not in params
    with pytest.raises(VmError) as caught:
        await env.s.vms.create(draft(env))
    assert caught.value.key == "vm.exists"


async def test_create_auto_placed_with_a_key_pair_and_windows_user(env: Env) -> None:
    key = await env.s.keypairs.import_key("laptop", PUBLIC_KEY)
    nova = env.conn.compute.get_keypair("laptop")
    assert key.fingerprint == nova.fingerprint and key.cluster == "dc1"
    info = await env.s.vms.create(
        draft(
            env,
            name="win1",
            template_id=env.windows,
            placement="auto",
            node=None,
            login="keypair",
            keypair="laptop",
        )
    )
    assert (
        info.user_name == "administrator" and info.keypair_name == "laptop" and info.node.startswith("node-")
    )
    raw = env.conn.compute.get(f"/servers/{info.cloud_id}", microversion="2.73").json()["server"]
    assert raw["key_name"] == "laptop"
    assert "administrator" in base64.b64decode(raw["OS-EXT-SRV-ATTR:user_data"]).decode()


async def test_windows_password_goes_only_in_admin_pass(env: Env) -> None:
    info = await env.s.vms.create(draft(env, name="win2", template_id=env.windows))
    raw = env.conn.compute.get(f"/servers/{info.cloud_id}", microversion="2.73").json()["server"]
    user_data = base64.b64decode(raw["OS-EXT-SRV-ATTR:user_data"]).decode()
    assert PASSWORD not in user_data and PASSWORD not in json.dumps(raw)


@pytest.mark.parametrize(
    ("op", "step"),
    [
        ("compute.create_flavor", "Create flavor"),
        ("compute.create_server", "Boot on the node"),
        ("network.create_floating_ip", "Attach public IP"),
        ("error", "Wait for ACTIVE"),
    ],
)
async def test_failure_at_each_cloud_step_rolls_everything_back(env: Env, op: str, step: str) -> None:
    if op == "error":  # Nova's scheduler finds no host with 129 GB free: BUILD → ERROR, no HTTP error
        body = {"quota_set": {"ram": -1}}
        assert (
            env.conn.compute.put(f"/os-quota-sets/{env.conn.current_project_id}", json=body).status_code
            == 200
        )
        request = draft(env, placement="auto", node=None, ram_gb="129", public_ip=True)
    else:
        fault(env.cloud, op, message=f"injected {op}")
        request = draft(env, public_ip=True)
    with pytest.raises(VmError) as caught:
        await env.s.vms.create(request)
    text = render(caught.value)
    assert caught.value.key == "vm.create_failed" and f"'{step}'" in text
    assert ("No valid host" in text) if op == "error" else (f"injected {op}" in text)
    assert PASSWORD not in text
    assert_nothing_left(env, "vm1")
    assert vm_rows(env) == []
    await assert_quota_free(env)
    with env.s.db.session() as session:
        op_row = session.scalars(select(Operation)).one()
        assert op_row.state == "compensated" and op_row.vm_id is None
        states = {s.code: s.state for s in op_row.steps}
    code = {"Create flavor": "flavor", "Boot on the node": "boot", "Attach public IP": "floating_ip"}.get(
        step, "wait"
    )
    assert states[code] in ("failed", "compensated") and states["reserve"] == "compensated"
    assert states["record"] == "pending"


async def test_cancel_rolls_back(env: Env) -> None:
    token = CancelToken()

    def progress(p: Progress) -> None:
        if p.step == "boot":
            token.cancel()  # the server is being made: it must be deleted again

    with pytest.raises(Cancelled) as caught:
        await env.s.vms.create(draft(env, public_ip=True), on_progress=progress, cancel=token)
    assert caught.value.key == "vm.create_cancelled"
    assert_nothing_left(env, "vm1")
    assert vm_rows(env) == []
    await assert_quota_free(env)


# ------------------------------------------------------------------ list, refresh, actions


async def test_actions_locks_refresh_and_delete(env: Env) -> None:
    info = await env.s.vms.create(draft(env, public_ip=True))
    assert [v.name for v in await env.s.vms.list_all()] == ["vm1"]
    stopped = await env.s.vms.stop(info.id, wait=True)
    assert stopped.status == "SHUTOFF"
    started = await env.s.vms.start(info.id, wait=True)
    assert started.status == "ACTIVE"
    rebooted = await env.s.vms.reboot(info.id, hard=True, wait=True)
    assert rebooted.status == "ACTIVE" and rebooted.task_state == ""
    url = await env.s.vms.console_url(info.id)
    assert url.startswith(env.cloud.url) and "vnc" in url
    # behind the console's back: stopped, then Nova-locked
    env.conn.compute.stop_server(info.cloud_id)
    env.conn.compute.wait_for_server(
        env.conn.compute.get_server(info.cloud_id), status="SHUTOFF", interval=0.02, wait=10
    )
    [refreshed] = await env.s.vms.refresh()
    assert refreshed.status == "SHUTOFF"
    env.conn.compute.lock_server(info.cloud_id, locked_reason="maintenance window")
    [refreshed] = await env.s.vms.refresh()
    assert refreshed.locked and refreshed.lock_reason
    for action in (env.s.vms.start, env.s.vms.delete, env.s.vms.console_url):
        with pytest.raises(VmError) as caught:
            await action(info.id)
        assert caught.value.key == "vm.locked_nova" and "maintenance window" in render(caught.value)
    env.conn.compute.unlock_server(info.cloud_id)
    # the console's own lock (an operation such as a resize holds the VM)
    op_id = env.s.vms.engine.create_sync("resize", [], project_id=None, vm_id=info.id)
    with env.s.db.session() as session:
        session.get(Vm, info.id).locked_by_operation = op_id  # type: ignore[union-attr]
    held = await env.s.vms.get(info.id)
    assert held.status == "operating" and held.locked and f"#{op_id}" in held.lock_reason
    for action in (
        env.s.vms.start,
        env.s.vms.stop,
        env.s.vms.reboot,
        env.s.vms.delete,
        env.s.vms.console_url,
    ):
        with pytest.raises(VmError) as caught:
            await action(info.id)
        assert caught.value.key == "vm.locked_operation" and "resize" in render(caught.value)
    with env.s.db.session() as session:
        session.get(Vm, info.id).locked_by_operation = None  # type: ignore[union-attr]
    # delete: server, floating IP and flavor go; the quota comes back
    await env.s.vms.delete(info.id)
    assert_nothing_left(env, "vm1")
    assert vm_rows(env) == []
    await assert_quota_free(env)
    with pytest.raises(VmError):
        await env.s.vms.get(info.id)


async def test_refresh_marks_vms_gone_and_shows_all_projects(env: Env) -> None:
    info = await env.s.vms.create(draft(env))
    await env.s.projects.add(ProjectDraft.parse(name="ops", vcpus="4", ram_gb="4", vms="1", cluster="dc1"))
    await env.s.projects.use("ops")
    assert await env.s.vms.refresh() == []
    assert [v.name for v in await env.s.vms.refresh(all_projects=True)] == ["vm1"]
    env.conn.compute.delete_server(info.cloud_id)
    env.conn.compute.wait_for_delete(env.conn.compute.get_server(info.cloud_id), interval=0.02, wait=10)
    fresh = build_console_services(
        env.s.settings, clock=Clock(CONSOLE_NOW)
    )  # a new console lists all servers once
    try:
        await fresh.start()
        [gone] = await fresh.vms.refresh(all_projects=True)
        assert gone.status == "DELETED"
        await fresh.projects.use("web")
        await fresh.vms.delete(gone.id)  # deleting a VM the cloud already lost only frees its quota
        await assert_quota_free(Env(fresh, env.cloud, env.conn, env.linux, env.windows, env.home))
    finally:
        fresh.close()


async def test_read_only_console_refuses_every_change(env: Env) -> None:
    info = await env.s.vms.create(draft(env))
    ro = build_console_services(env.s.settings, clock=Clock(CONSOLE_NOW), readonly=True)
    try:
        await ro.start()
        for call in (
            lambda: ro.vms.create(draft(env, name="vm2")),
            lambda: ro.vms.start(info.id),
            lambda: ro.vms.stop(info.id),
            lambda: ro.vms.reboot(info.id),
            lambda: ro.vms.delete(info.id),
            lambda: ro.keypairs.import_key("k", PUBLIC_KEY),
        ):
            with pytest.raises(ReadOnlyError):
                await call()
        assert [v.name for v in await ro.vms.list_all()] == ["vm1"]
    finally:
        ro.close()


async def test_unlicensed_feature_is_refused(
    tmp_path: Path,
    cloud: DevCloudHandle,
    settings_for: Callable[..., Settings],
    make_license: Callable[..., Any],
) -> None:
    issuer = build_issuer_services(settings_for(tmp_path / "issuer"))
    await issuer.start()
    try:
        issued = await make_license(issuer.issuer, tmp_path / "out", edition="Stats", features="statistics")
    finally:
        issuer.close()
    console = build_console_services(settings_for(tmp_path / "console"), clock=Clock(CONSOLE_NOW))
    try:
        await console.start()
        await console.license.import_license(issued.ec_path, issued.properties_path)
        with pytest.raises(LicenseError) as caught:
            await console.vms.create(
                VmDraft.parse(
                    name="v",
                    template_id=1,
                    placement="auto",
                    node=None,
                    login="keypair",
                    keypair="k",
                    cpu=1,
                    ram_gb=1,
                    network="private",
                )  # fmt: skip
            )
        assert caught.value.key == "license.feature_disabled"
    finally:
        console.close()


# ------------------------------------------------------------------ key pairs


async def test_keypair_import_validation_and_list(env: Env, tmp_path: Path) -> None:
    for bad, needle in (
        ("", "Public key is required"),
        ("ssh-foo AAAA", "unknown key type"),
        ("ssh-ed25519 not*base64", "not base64"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----", "single public key"),
        ("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGmSBzTLQxp2VLvRNaBvCPPGKL7S1V4Mq7j9CoJlLk3X", "Public key"),
    ):
        with pytest.raises(ValidationError) as caught:
            await env.s.keypairs.import_key("k1", bad)
        assert caught.value.field == "Public key" and needle in render(caught.value), render(caught.value)
    with pytest.raises(ValidationError) as caught:
        await env.s.keypairs.import_key("bad/name", PUBLIC_KEY)
    assert caught.value.field == "Key pair name"
    made = await env.s.keypairs.import_key("k1", PUBLIC_KEY + "\n")
    with pytest.raises(ServiceError) as caught:
        await env.s.keypairs.import_key("k1", PUBLIC_KEY)
    assert caught.value.key == "keypair.exists"
    assert [k.name for k in await env.s.keypairs.list_all()] == ["k1"]
    assert [k.to_json()["fingerprint"] for k in await env.s.keypairs.list_all(cluster="dc1")] == [
        made.fingerprint
    ]
    assert await env.s.keypairs.list_all(cluster="other") == []


@pytest.mark.parametrize("has_274", [True, False])
async def test_manual_node_uses_274_host_placement_where_the_cloud_has_it(
    env: Env, monkeypatch: pytest.MonkeyPatch, has_274: bool
) -> None:
    import ectui.services.vms.create as vms_module

    assert vms_module.supports_host_placement(env.conn)  # the dev cloud goes up to 2.96
    if not has_274:
        monkeypatch.setattr(vms_module, "supports_host_placement", lambda _conn: False)
    sent: list[tuple[dict[str, Any], str]] = []
    real_call = vms_module.call_json

    def spy(proxy: Any, method: str, path: str, **kw: Any) -> dict[str, Any]:
        if method == "post" and path == "/servers":
            sent.append((kw["json"]["server"], kw.get("microversion", "")))
        return real_call(proxy, method, path, **kw)

    monkeypatch.setattr(vms_module, "call_json", spy)
    info = await env.s.vms.create(draft(env))
    body, microversion = sent[0]
    if has_274:
        assert body["hypervisor_hostname"] == "node-2" and microversion == "2.74"
        assert "availability_zone" not in body
    else:
        assert body["availability_zone"] == "nova:node-2" and "hypervisor_hostname" not in body
    assert env.conn.compute.get_server(info.cloud_id).compute_host == "node-2"
