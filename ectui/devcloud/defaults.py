"""Fixed names, passwords, sizes and quotas of the dev cloud (what seeding creates and clients log in with)."""

from __future__ import annotations

PROJECT = "demo"
ADMIN_PROJECT = "admin"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "password"
MEMBER_USER = "member"
MEMBER_PASSWORD = "password"
FTP_USER = "iso"
FTP_PASSWORD = "iso-password"
ZONE = "nova"
NODES = ("node-1", "node-2", "node-3")
NODE_VCPUS = 32
NODE_RAM_MB = 128 * 1024
NODE_DISK_GB = 2048
ISO_NAME = "virtio-tools.iso"

DEFAULT_QUOTAS = {
    "instances": 20,
    "cores": 64,
    "ram": 131072,
    "key_pairs": 100,
    "metadata_items": 128,
    "server_groups": 10,
    "server_group_members": 10,
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "floatingip": 10,
    "network": 100,
    "subnet": 100,
    "port": 500,
    "router": 10,
    "security_group": 10,
    "security_group_rule": 100,
}
"""Quotas of every project until changed (Nova and Neutron keys)."""

FLAVORS: tuple[tuple[str, str, int, int, int, dict[str, str]], ...] = (
    # id, name, vcpus, ram MiB, disk GiB, extra specs
    ("1", "m1.tiny", 1, 512, 1, {}),
    ("2", "m1.small", 1, 2048, 20, {}),
    ("3", "m1.medium", 2, 4096, 40, {}),
    ("4", "m1.large", 4, 8192, 80, {}),
    ("5", "m1.xlarge", 8, 16384, 160, {}),
    ("hot-2", "h1.medium", 2, 4096, 40, {"hw:live_resize": "true"}),
    ("hot-4", "h1.large", 4, 8192, 40, {"hw:live_resize": "true"}),
)
