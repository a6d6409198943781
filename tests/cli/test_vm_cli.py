"""`ectui vm …` and `ectui keypair …` through the real entry point (`python -m ectui`), against the dev cloud."""

from __future__ import annotations

import json
from pathlib import Path

import openstack.config
import openstack.connection

from ectui.devcloud import DevCloudHandle
from tests.kit.cli import ectui, ok
from tests.kit.vms import PASSWORD

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmSBzTLQxp2VLvRNaBvCPPGKL7S1V4Mq7j9CoJlLk3X cli@ectui\n"


def sdk(cloud: DevCloudHandle) -> openstack.connection.Connection:
    config = openstack.config.OpenStackConfig(config_files=[str(cloud.clouds_yaml)])
    return openstack.connection.Connection(config=config.get_one(cloud="devcloud"))


def test_refusals_speak_the_service_messages(home: Path) -> None:
    create = ("vm", "create", "--name", "v1", "--template", "cirros", "--cpu", "1", "--ram", "1",
              "--network", "private", "--password-stdin", "--node", "node-1")  # fmt: skip
    refused = ectui(home, *create, stdin=PASSWORD + "\n")
    assert refused.returncode == 1 and refused.stderr.strip() == "ectui: Please select a project first!"
    ok(ectui(home, "project", "use", "web"))
    weak = ectui(home, *create, stdin="weak\n")
    assert (
        weak.returncode == 2
        and "Password does not meet the rules" in weak.stderr
        and "weak" not in weak.stderr
    )
    bad_cpu = ectui(
        home, *[("x" if a == "1" and i == 7 else a) for i, a in enumerate(create)], stdin=PASSWORD + "\n"
    )
    assert bad_cpu.returncode == 2 and "CPU must be a whole number" in bad_cpu.stderr
    full = ectui(home, *create[:-1], "node-1", stdin=PASSWORD + "\n")
    assert full.returncode == 0, full.stderr  # node-1 has room: made (then deleted below)
    ok(ectui(home, "vm", "delete", "v1"))
    neither = ectui(home, *create[:-2])
    assert neither.returncode == 2 and "--node" in neither.stderr
    quota = ectui(
        home, *[("9" if a == "1" and i == 7 else a) for i, a in enumerate(create)], stdin=PASSWORD + "\n"
    )
    assert quota.returncode == 1 and "Not enough vCPU quota in project web" in quota.stderr


def test_keypair_vm_lifecycle_json(home: Path, cloud: DevCloudHandle, tmp_path: Path) -> None:
    ok(ectui(home, "project", "use", "web"))
    key_file = tmp_path / "id.pub"
    key_file.write_text(PUBLIC_KEY)
    imported = json.loads(
        ok(ectui(home, "keypair", "import", "--name", "cli", "--public-key", key_file, "--json")).stdout
    )
    assert imported["cluster"] == "dc1" and imported["fingerprint"].count(":") == 15
    assert [
        k["name"] for k in json.loads(ok(ectui(home, "keypair", "list", "--json")).stdout)["keypairs"]
    ] == ["cli"]
    missing = ectui(home, "keypair", "import", "--name", "x", "--public-key", tmp_path / "nope.pub")
    assert missing.returncode == 2 and "Public key" in missing.stderr
    made = ok(ectui(home, "vm", "create", "--name", "k1", "--template", "cirros", "--cpu", "2", "--ram", "2",
                    "--network", "private", "--keypair", "cli", "--auto-place", "--public-ip",
                    "--description", "from the CLI", "--json"))  # fmt: skip
    vm = json.loads(made.stdout)
    assert (
        vm["status"] == "ACTIVE"
        and vm["keypair"] == "cli"
        and vm["floating_ip"]
        and vm["user_name"] == "root"
    )
    assert made.stderr == ""  # progress goes to stderr only on a terminal
    listed = json.loads(ok(ectui(home, "vm", "list", "--json")).stdout)["vms"]
    assert [v["name"] for v in listed] == ["k1"]
    assert "k1" in ok(ectui(home, "vm", "list", "--all")).stdout
    stopped = json.loads(ok(ectui(home, "vm", "stop", "k1", "--wait", "--json")).stdout)
    assert stopped["status"] == "SHUTOFF"
    assert "ACTIVE" in ok(ectui(home, "vm", "start", "k1", "--wait")).stdout
    ok(ectui(home, "vm", "reboot", "k1", "--hard", "--wait"))
    shown = json.loads(ok(ectui(home, "vm", "show", str(vm["id"]), "--json")).stdout)
    assert shown["operations"][0]["kind"] == "create_vm" and shown["operations"][0]["state"] == "done"
    assert "create_vm" in ok(ectui(home, "vm", "show", "k1")).stdout
    assert ok(ectui(home, "vm", "console", "k1")).stdout.startswith(cloud.url)
    quota = json.loads(ok(ectui(home, "project", "quota", "web", "--json")).stdout)
    assert quota["used"] == {"vcpus": 2, "ram_gb": 2, "vms": 1, "public_ips": 1}
    assert ectui(home, "--readonly", "vm", "delete", "k1").returncode == 1
    ok(ectui(home, "vm", "delete", "k1"))
    quota = json.loads(ok(ectui(home, "project", "quota", "web", "--json")).stdout)
    assert quota["used"] == {"vcpus": 0, "ram_gb": 0, "vms": 0, "public_ips": 0}
    conn = sdk(cloud)
    assert [s.name for s in conn.compute.servers() if s.name == "k1"] == []
    assert list(conn.network.ips()) == []
    gone = ectui(home, "vm", "show", "k1")
    assert gone.returncode == 1 and "No VM 'k1'" in gone.stderr
