"""Operator accounts: cheap Argon2 parameters, the passwords of the standard accounts, and making them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher

from ectui.services import ConsoleServices
from ectui.services.projects import ProjectDraft
from ectui.services.users import UserDraft

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""Real Argon2id with cheaper parameters: keeps the tests fast."""
ADMIN_PW = "admin-pass-1234"
OPS_PW = "ops-pass-12345"
AUDIT_PW = "audit-pass-1234"


@dataclass(frozen=True)
class Licenses:
    """Exported license files: one edition with the users module, one without."""

    users: tuple[Path, Path]
    plain: tuple[Path, Path]


async def with_accounts(services: ConsoleServices) -> None:
    """admin (as the OS operator: first account), then ops and aud (as admin); ends logged out."""
    users = services.users
    await users.add(UserDraft.parse(name="admin", role="admin", password=ADMIN_PW))
    await users.login("admin", ADMIN_PW)
    await users.add(UserDraft.parse(name="ops", role="operator", password=OPS_PW))
    await users.add(UserDraft.parse(name="aud", role="auditor", password=AUDIT_PW))
    await users.logout()


def project(name: str = "web") -> ProjectDraft:
    """A small project draft (4 vCPU, 8 GB, 2 VMs)."""
    return ProjectDraft.parse(name=name, vcpus="4", ram_gb="8", vms="2")
