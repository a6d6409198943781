"""Key pairs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from aiohttp import web

from ..api import ctx_of, json_response, read_member
from ..core import JSON, now_iso
from ..errors import bad_request, conflict, forbidden, not_found
from .common import NovaBase


class KeypairsMixin(NovaBase):
    """Key pair routes."""

    # -- keypairs -------------------------------------------------------------------------------------
    def _render_keypair(self, k: JSON, request: web.Request, full: bool) -> JSON:
        out = {"name": k["name"], "public_key": k["public_key"], "fingerprint": k["fingerprint"]}
        if self.mv(request) >= (2, 2):
            out["type"] = k["type"]
        if full:
            out.update(user_id=k["user_id"], created_at=k["created_at"], deleted=False, deleted_at=None,
                       updated_at=None, id=k["int_id"])  # fmt: skip
        return out

    async def list_keypairs(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/os-keypairs."""
        ctx = ctx_of(request)
        user = request.query.get("user_id") if ctx.is_admin else None
        keys = [k for k in self.store.iter("keypair") if k["user_id"] == (user or ctx.user_id)]
        return json_response(
            {"keypairs": [{"keypair": self._render_keypair(k, request, False)} for k in keys]}
        )

    async def show_keypair(self, request: web.Request) -> web.Response:
        """GET /compute/v2.1/os-keypairs/{name}."""
        ctx = ctx_of(request)
        k = self.store.get("keypair", f"{ctx.user_id}:{request.match_info['name']}")
        if k is None:
            raise not_found(f"Keypair {request.match_info['name']} not found for user {ctx.user_id}")
        return json_response({"keypair": self._render_keypair(k, request, True)})

    async def delete_keypair(self, request: web.Request) -> web.Response:
        """DELETE /compute/v2.1/os-keypairs/{name}."""
        ctx = ctx_of(request)
        if not self.store.delete("keypair", f"{ctx.user_id}:{request.match_info['name']}"):
            raise not_found(f"Keypair {request.match_info['name']} not found for user {ctx.user_id}")
        return web.Response(status=202 if self.mv(request) < (2, 2) else 204)

    async def create_keypair(self, request: web.Request) -> web.Response:
        """POST /compute/v2.1/os-keypairs."""
        ctx = ctx_of(request)
        mv = self.mv(request)
        body = await read_member(request, "keypair")
        name = str(body.get("name") or "")
        if not name or len(name) > 255 or not re.fullmatch(r"[A-Za-z0-9 _.@-]+", name):
            raise bad_request("Keypair data is invalid: Keypair name contains unsafe characters")
        if self.store.get("keypair", f"{ctx.user_id}:{name}"):
            raise conflict(f"Key pair '{name}' already exists.")
        limit = self.neutron.quota(ctx.project_id)["key_pairs"]
        if sum(1 for k in self.store.iter("keypair") if k["user_id"] == ctx.user_id) >= limit >= 0:
            raise forbidden("Quota exceeded, too many key pairs.")
        public_key = body.get("public_key")
        private_key = None
        if not public_key:
            if mv >= (2, 92):
                raise bad_request(
                    "Invalid input for field/attribute keypair. 'public_key' is a required property"
                )
            public_key, private_key = _generate_keypair(name)
        try:
            blob = base64.b64decode(str(public_key).split()[1])
        except (IndexError, binascii.Error, ValueError):
            raise bad_request("Keypair data is invalid: failed to generate fingerprint") from None
        digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
        k = {
            "id": f"{ctx.user_id}:{name}",
            "int_id": self.store.next_int("keypair_seq"),
            "name": name,
            "user_id": ctx.user_id,
            "public_key": str(public_key).strip(),
            "fingerprint": ":".join(digest[i : i + 2] for i in range(0, 32, 2)),
            "type": body.get("type", "ssh"),
            "created_at": now_iso(micro=True),
        }
        self.store.put("keypair", k)
        out = self._render_keypair(k, request, False)
        out["user_id"] = ctx.user_id
        if private_key:
            out["private_key"] = private_key
        return json_response({"keypair": out}, status=201 if mv >= (2, 2) else 200)


def _generate_keypair(name: str) -> tuple[str, str]:
    """An ed25519 key pair in OpenSSH format (Nova before 2.92 generates one when no public key is given)."""
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:  # pragma: no cover - cryptography is an ectui dependency
        raise bad_request("Key generation is unavailable; pass public_key") from None
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return f"{public} {name}", private
