"""Cloud-init and cloudbase-init user data of a new VM, and the password rules of its login.

A Linux template gets cloud-init user data whose `chpasswd` list carries a SHA-512 crypt (`$6$`) hash of
the password, never the password itself; a Windows template gets cloudbase-init user data that names the
admin user and no password: cloudbase-init's SetUserPasswordPlugin sets it from the instance's
`admin_pass` (Nova's `adminPass`, which both kinds also get).
"""

from __future__ import annotations

import hashlib
import re
import secrets

from ectui.i18n import N_

PASSWORD_RULES: tuple[tuple[str, str], ...] = (
    ("length", N_("8-64 characters")),
    ("upper", N_("an upper-case letter")),
    ("lower", N_("a lower-case letter")),
    ("digit", N_("a digit")),
    ("special", N_("a special character")),
)
"""The password complexity rules: (code, label)."""
OS_USERS = {"linux": "root", "windows": "administrator"}
_SPECIAL = re.compile(r"[^A-Za-z0-9]")


def password_checks(password: str) -> list[tuple[str, str, bool]]:
    """Each rule with whether `password` meets it, for live display as the operator types."""
    ok = {
        "length": 8 <= len(password) <= 64,
        "upper": any(c.isupper() for c in password),
        "lower": any(c.islower() for c in password),
        "digit": any(c.isdigit() for c in password),
        "special": bool(_SPECIAL.search(password)) and not any(c.isspace() for c in password),
    }
    return [(code, label, ok[code]) for code, label in PASSWORD_RULES]


def user_name_for(os_type: str) -> str:
    """The fixed login user of a template's OS: root for linux, administrator for windows."""
    return OS_USERS.get((os_type or "linux").lower(), "root")


_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SHA512_ORDER = (
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48),
    (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13),
    (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41),
)  # fmt: skip


def sha512_crypt(password: str, salt: str | None = None, rounds: int = 5000) -> str:
    """The SHA-512 crypt (`$6$`) hash of a password, as glibc's crypt(3) and chpasswd -e read it.

    Written out (Drepper's specification) because Python's `crypt` module is gone from 3.13.
    """
    pw = password.encode()
    salt = (salt if salt is not None else "".join(secrets.choice(_ITOA64) for _ in range(16)))[:16]
    s = salt.encode()
    b = hashlib.sha512(pw + s + pw).digest()
    a = hashlib.sha512(pw + s)
    a.update(b * (len(pw) // 64) + b[: len(pw) % 64])
    n = len(pw)
    while n:
        a.update(b if n & 1 else pw)
        n >>= 1
    digest_a = a.digest()
    dp = hashlib.sha512(pw * len(pw)).digest()
    p = dp * (len(pw) // 64) + dp[: len(pw) % 64]
    ds = hashlib.sha512(s * (16 + digest_a[0])).digest()
    sb = ds * (len(s) // 64) + ds[: len(s) % 64]
    c = digest_a
    for i in range(rounds):
        h = hashlib.sha512(p if i & 1 else c)
        if i % 3:
            h.update(sb)
        if i % 7:
            h.update(p)
        h.update(c if i & 1 else p)
        c = h.digest()
    out = []
    for x, y, z in _SHA512_ORDER:
        v = (c[x] << 16) | (c[y] << 8) | c[z]
        for _ in range(4):
            out.append(_ITOA64[v & 63])
            v >>= 6
    v = c[63]
    for _ in range(2):
        out.append(_ITOA64[v & 63])
        v >>= 6
    prefix = "$6$" if rounds == 5000 else f"$6$rounds={rounds}$"
    return f"{prefix}{salt}${''.join(out)}"


def user_data_for(os_type: str, user: str, password: str | None) -> str:
    """The user data of a new VM: cloud-init (linux) or cloudbase-init (windows); never the clear password."""
    if os_type == "windows":
        # cloudbase-init: SetUserPasswordPlugin takes the password from the metadata's admin_pass
        # (Nova's adminPass); the user data only names the user it manages.
        return f"#cloud-config\n# ectui: cloudbase-init admin user {user}; password from admin_pass\n"
    lines = ["#cloud-config"]
    if password:
        lines += [
            "ssh_pwauth: true",
            "disable_root: false",
            "chpasswd:",
            "  expire: false",
            "  list: |",
            f"    {user}:{sha512_crypt(password)}",
        ]
    return "\n".join(lines) + "\n"
