"""Glance v2 subset: images with pagination and filters, streamed upload and download, JSON-patch."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

from .api import Context, base_url, ctx_of, json_response, read_json
from .base import Cloud, ServiceApp
from .core import JSON, as_bool, new_id, now_iso
from .errors import ApiError, bad_request, conflict, forbidden, not_found

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
CHUNK = 1 << 20
WINDOW = 4
"""Received buffers in flight between the reader and the hashing/writing threads."""
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
RESERVED = {
    "id", "status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value", "created_at",
    "updated_at", "file", "self", "schema", "owner", "direct_url", "locations", "stores", "tags",
}  # fmt: skip
"""Image fields a PATCH may not touch (Glance answers 403)."""
CORE = {
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "disk_format",
    "container_format",
    "min_disk",
    "min_ram",
}


def _hashes_of(data: bytes) -> tuple[str, str]:
    return hashlib.md5(data, usedforsecurity=False).hexdigest(), hashlib.sha512(data).hexdigest()


class Glance(ServiceApp):
    """Image service; image data lives in ``<state>/images/<id>``."""

    def __init__(self, cloud: Cloud) -> None:
        """Build the component; no I/O happens here beyond making the image data folder."""
        super().__init__(cloud)
        self.data_dir: Path = cloud.state_dir / "images"
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def add_routes(self, app: web.Application) -> None:
        """Register the image routes."""
        r = app.router
        r.add_get("/image", self.versions)
        r.add_get("/image/", self.versions)
        r.add_get("/image/versions", self.versions)
        r.add_get("/image/v2/images", self.list_images)
        r.add_post("/image/v2/images", self.create_image)
        r.add_get("/image/v2/images/{id}", self.show_image)
        r.add_patch("/image/v2/images/{id}", self.update_image)
        r.add_delete("/image/v2/images/{id}", self.delete_image)
        r.add_put("/image/v2/images/{id}/file", self.upload)
        r.add_get("/image/v2/images/{id}/file", self.download)
        r.add_post("/image/v2/images/{id}/actions/deactivate", self.deactivate)
        r.add_post("/image/v2/images/{id}/actions/reactivate", self.reactivate)
        r.add_put("/image/v2/images/{id}/tags/{tag}", self.add_tag)
        r.add_delete("/image/v2/images/{id}/tags/{tag}", self.remove_tag)
        r.add_get("/image/v2/schemas/image", self.schema)
        r.add_get("/image/v2/schemas/images", self.schema)
        r.add_get("/image/v2/info/import", self.import_info)
        r.add_get("/image/v2/info/stores", self.stores_info)

    # -- helpers used by Nova and seeding --------------------------------------------------
    def new_image(self, owner: str, **fields: Any) -> JSON:
        """A queued image document (not yet stored)."""
        ts = now_iso()
        image: JSON = {
            "id": fields.pop("id", None) or new_id(),
            "name": None,
            "status": "queued",
            "visibility": "shared",
            "protected": False,
            "os_hidden": False,
            "owner": owner,
            "disk_format": None,
            "container_format": None,
            "min_disk": 0,
            "min_ram": 0,
            "size": None,
            "virtual_size": None,
            "checksum": None,
            "os_hash_algo": None,
            "os_hash_value": None,
            "tags": [],
            "created_at": ts,
            "updated_at": ts,
        }
        image.update(fields)
        return image

    def put_data(self, image: JSON, data: bytes) -> JSON:
        """Store small image data synchronously and make the image active (seeding, snapshots)."""
        (self.data_dir / image["id"]).write_bytes(data)
        md5, sha = _hashes_of(data)
        image.update(
            status="active", size=len(data), checksum=md5, os_hash_algo="sha512", os_hash_value=sha,
            updated_at=now_iso(),
        )  # fmt: skip
        return self.store.put("image", image)

    def get(self, image_id: str, ctx: Context | None = None) -> JSON:
        """An image visible to `ctx`, or a 404."""
        image = self.store.get("image", image_id)
        if image is None or (ctx is not None and not self.visible(image, ctx)):
            raise not_found(f"No image found with ID {image_id}")
        return image

    def _owned(self, request: web.Request, verb: str) -> JSON:
        """The request's image when the caller owns it or is an admin; 404 when unseen, 403 when not owned."""
        ctx = ctx_of(request)
        image = self.get(request.match_info["id"], ctx)
        if not ctx.is_admin and image["owner"] != ctx.project_id:
            raise forbidden(f"You are not permitted to {verb} this image.")
        return image

    @staticmethod
    def visible(image: JSON, ctx: Context) -> bool:
        return (
            ctx.is_admin or image["owner"] == ctx.project_id or image["visibility"] in ("public", "community")
        )

    @staticmethod
    def render(image: JSON) -> JSON:
        """The image as Glance answers it."""
        out = {k: v for k, v in image.items() if not k.startswith("_")}
        out["self"] = f"/v2/images/{image['id']}"
        out["file"] = f"/v2/images/{image['id']}/file"
        out["schema"] = "/v2/schemas/image"
        return out

    # -- routes ----------------------------------------------------------------------------
    async def versions(self, request: web.Request) -> web.Response:
        """GET /image, GET /image/, GET /image/versions."""
        base = base_url(request)
        versions = [
            {"id": f"v2.{n}", "status": "CURRENT" if n == 17 else "SUPPORTED",
             "links": [{"rel": "self", "href": f"{base}/image/v2/"}]}
            for n in range(17, -1, -1)
        ]  # fmt: skip
        return json_response({"versions": versions}, status=300 if request.path != "/image/versions" else 200)

    async def list_images(self, request: web.Request) -> web.Response:
        """GET /image/v2/images."""
        ctx = ctx_of(request)
        await self.cloud.faults.hit("image.list")
        q = request.query
        try:
            limit = min(int(q.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
        except ValueError:
            raise bad_request("limit param must be an integer") from None
        if limit < 0:
            raise bad_request("limit param must be positive")
        sort_key = q.get("sort_key", "created_at")
        sort_dir = q.get("sort_dir", "desc")
        sort = q.get("sort")
        if sort:
            key, _, direction = sort.split(",")[0].partition(":")
            sort_key, sort_dir = key, direction or "asc"
        extra, args = self._filters_sql(q, ctx)
        marker = q.get("marker")
        if sort_key in ("created_at", "id") or sort_key == "":
            page = self.store.page(
                "image",
                limit=limit,
                marker=marker,
                newest_first=sort_dir != "asc",
                name=q.get("name"),
                status=q.get("status"),
                extra_sql=extra,
                extra_args=args,
            )
            if page is None:
                raise bad_request(f"Invalid marker {marker}: could not find an image with that ID")
            images, more = page
        else:
            images, more = self._sorted_page(q, ctx, limit, marker, sort_key, sort_dir)
        images = [i for i in images if self._matches(i, q)]
        body: JSON = {
            "images": [self.render(i) for i in images],
            "first": "/v2/images",
            "schema": "/v2/schemas/images",
        }
        if more and images:
            params = [(k, v) for k, v in q.items() if k not in ("marker", "limit")]
            params += [("marker", images[-1]["id"]), ("limit", str(limit))]
            from urllib.parse import urlencode

            body["next"] = "/v2/images?" + urlencode(params)
        return json_response(body)

    def _filters_sql(self, q: Any, ctx: Context) -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = []
        args: list[Any] = []
        if not ctx.is_admin:
            clauses.append("(project=? OR json_extract(data,'$.visibility') IN ('public','community'))")
            args.append(ctx.project_id)
        for key in ("visibility", "disk_format", "container_format"):
            if key in q:
                clauses.append(f"json_extract(data,'$.{key}')=?")
                args.append(q[key])
        if "owner" in q:
            clauses.append("project=?")
            args.append(q["owner"])
        if as_bool(q.get("os_hidden", "false")):
            clauses.append("json_extract(data,'$.os_hidden')=1")
        elif "id" not in q:
            clauses.append("json_extract(data,'$.os_hidden')=0")
        return " AND ".join(clauses), tuple(args)

    @staticmethod
    def _matches(image: JSON, q: Any) -> bool:
        for tag in q.getall("tag", []):
            if tag not in image.get("tags", []):
                return False
        if "id" in q and image["id"] not in q["id"].removeprefix("in:").split(","):
            return False
        for op_key in ("size_min", "size_max"):
            if op_key in q:
                size = image.get("size") or 0
                bound = int(q[op_key])
                if (op_key == "size_min" and size < bound) or (op_key == "size_max" and size > bound):
                    return False
        return True

    def _sorted_page(
        self, q: Any, ctx: Context, limit: int, marker: str | None, key: str, direction: str
    ) -> tuple[list[JSON], bool]:
        images = [
            i
            for i in self.store.iter("image")
            if self.visible(i, ctx)
            and ("name" not in q or i["name"] == q["name"])
            and ("status" not in q or i["status"] == q["status"])
            and ("visibility" not in q or i["visibility"] == q["visibility"])
        ]
        images.sort(
            key=lambda i: (str(i.get(key) or ""), i["created_at"], i["id"]), reverse=direction == "desc"
        )
        if marker:
            ids = [i["id"] for i in images]
            if marker not in ids:
                raise bad_request(f"Invalid marker {marker}")
            images = images[ids.index(marker) + 1 :]
        return images[:limit], len(images) > limit

    async def create_image(self, request: web.Request) -> web.Response:
        """POST /image/v2/images."""
        ctx = ctx_of(request)
        await self.cloud.faults.hit("image.create")
        body = await read_json(request)
        for key in RESERVED - {"tags", "owner"}:
            if key in body:
                raise forbidden(f"Attribute '{key}' is reserved.")
        if body.get("disk_format") not in (None, *DISK_FORMATS):
            raise bad_request(f"Invalid disk format '{body['disk_format']}' for image.")
        if body.get("container_format") not in (None, *CONTAINER_FORMATS):
            raise bad_request(f"Invalid container format '{body['container_format']}' for image.")
        if body.get("visibility") not in (None, "public", "private", "shared", "community"):
            raise bad_request("Invalid visibility value")
        if body.get("visibility") == "public" and not ctx.is_admin:
            raise forbidden("You are not authorized to complete publicize_image action.")
        props = {k: v if k in CORE or k == "tags" else str(v) for k, v in body.items()}
        image = self.new_image(ctx.project_id, **props)
        if body.get("id"):
            if self.store.get("image", body["id"]):
                raise conflict(f"Image with identifier {body['id']} already exists!")
            image["id"] = body["id"]
        self.store.put("image", image)
        return json_response(
            self.render(image),
            status=201,
            headers={"Location": f"{base_url(request)}/image/v2/images/{image['id']}",
                     "OpenStack-image-import-methods": ""},
        )  # fmt: skip

    async def show_image(self, request: web.Request) -> web.Response:
        """GET /image/v2/images/{id}."""
        image = self.get(request.match_info["id"], ctx_of(request))
        return json_response(self.render(image))

    async def update_image(self, request: web.Request) -> web.Response:
        """PATCH /image/v2/images/{id}."""
        ctx = ctx_of(request)
        image = self._owned(request, "modify")
        ctype = request.content_type
        if "json-patch" not in ctype:
            raise ApiError(
                415, f"Unsupported Content-Type {ctype}; use application/openstack-images-v2.1-json-patch"
            )
        try:
            ops = json.loads(await request.read())
        except ValueError:
            raise bad_request("Malformed JSON-patch body") from None
        if not isinstance(ops, list):
            raise bad_request("A JSON-patch body is a list of operations")
        for op in ops:
            kind, path = op.get("op"), str(op.get("path", ""))
            if not path.startswith("/") or path.count("/") != 1:
                raise bad_request(f"Invalid JSON pointer for this resource: '{path}'")
            key = path[1:].replace("~1", "/").replace("~0", "~")
            if key in RESERVED - {"tags"}:
                raise forbidden(f"Attribute '{key}' is read-only.")
            if kind in ("add", "replace"):
                value = op.get("value")
                if key == "visibility" and value == "public" and not ctx.is_admin:
                    raise forbidden("You are not authorized to complete publicize_image action.")
                if kind == "replace" and key not in image:
                    raise conflict(f"Property {key} does not exist.")
                image[key] = value if key in CORE or key == "tags" else str(value)
            elif kind == "remove":
                if key in CORE:
                    raise forbidden(f"Attribute '{key}' is required and cannot be removed.")
                if key not in image:
                    raise conflict(f"Property {key} does not exist.")
                del image[key]
            else:
                raise bad_request(f"Operation '{kind}' is not supported")
        image["updated_at"] = now_iso()
        self.store.put("image", image)
        return json_response(self.render(image))

    async def delete_image(self, request: web.Request) -> web.Response:
        """DELETE /image/v2/images/{id}."""
        image = self._owned(request, "delete")
        await self.cloud.faults.hit("image.delete")
        if image.get("protected"):
            raise forbidden(f"Image {image['id']} is protected and cannot be deleted.")
        self.store.delete("image", image["id"])
        for path in (self.data_dir / image["id"], self.data_dir / f"{image['id']}.part"):
            path.unlink(missing_ok=True)
        return web.Response(status=204)

    async def upload(self, request: web.Request) -> web.StreamResponse:
        """PUT /image/v2/images/{id}/file."""
        image = self._owned(request, "upload data for")
        if request.content_type not in ("application/octet-stream", ""):
            raise ApiError(
                415, f"Content-Type {request.content_type} is not supported; use application/octet-stream"
            )
        if image["status"] != "queued":
            raise conflict(f"Image status transition from {image['status']} to saving is not allowed")
        if not image.get("disk_format") or not image.get("container_format"):
            raise bad_request("Properties disk_format, container_format must be set prior to saving data.")
        fault = await self.cloud.faults.hit("image.upload")
        drop_after = fault.drop_after_bytes if fault else None
        image["status"] = "saving"
        image["updated_at"] = now_iso()
        self.store.put("image", image)
        part = self.data_dir / f"{image['id']}.part"
        ok = False
        try:
            size, md5, sha = await self._receive(request, part, drop_after)
            ok = True
        finally:
            if not ok:
                part.unlink(missing_ok=True)
                current = self.store.get("image", image["id"])
                if current is not None:  # deleted meanwhile: nothing to restore
                    current.update(status="queued", updated_at=now_iso())
                    self.store.put("image", current)
        current = self.store.get("image", image["id"])
        if current is None:
            part.unlink(missing_ok=True)
            raise conflict("Image was deleted during the upload")
        os.replace(part, self.data_dir / image["id"])
        current.update(
            status="active",
            size=size,
            checksum=md5,
            os_hash_algo="sha512",
            os_hash_value=sha,
            updated_at=now_iso(),
        )
        self.store.put("image", current)
        return web.Response(status=204)

    async def _receive(
        self, request: web.Request, part: Path, drop_after: int | None
    ) -> tuple[int, str, str]:
        """Stream the body to `part`: md5, sha512 and the write each run in their own thread.

        Each stage has a one-thread executor, so its chunks stay in order, and the stages drift freely
        within a window of `WINDOW` buffers. Memory stays flat: at most WINDOW received buffers are held.
        """
        loop = asyncio.get_running_loop()
        md5 = hashlib.md5(usedforsecurity=False)
        sha = hashlib.sha512()
        size = 0
        stages = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"devcloud-upload-{n}") for n in range(3)
        ]
        fh = open(part, "wb")  # noqa: SIM115, ASYNC230 - a local file, closed in finally, written in a thread
        window: deque[asyncio.Future[Any]] = deque()
        try:
            async for chunk in request.content.iter_any():
                if drop_after is not None and size + len(chunk) > drop_after:
                    # The fault "drop_after_bytes": the network cuts the connection mid-upload.
                    if request.transport is not None:
                        request.transport.abort()
                    raise ConnectionResetError(f"fault: connection dropped after {drop_after} bytes")
                size += len(chunk)
                window.append(asyncio.gather(
                    loop.run_in_executor(stages[0], md5.update, chunk),
                    loop.run_in_executor(stages[1], sha.update, chunk),
                    loop.run_in_executor(stages[2], _write_thin, fh, chunk),
                ))  # fmt: skip
                while len(window) > WINDOW:
                    await window.popleft()
            while window:
                await window.popleft()
            fh.truncate(size)  # a trailing run of zeros is a hole: give the file its full length
        finally:
            if window:
                await asyncio.wait(window)
            for stage in stages:
                stage.shutdown(wait=False)
            fh.close()
        if request.content_length is not None and size != request.content_length:
            raise bad_request("Image data is shorter than the announced Content-Length")
        return size, md5.hexdigest(), sha.hexdigest()

    async def download(self, request: web.Request) -> web.StreamResponse:
        """GET /image/v2/images/{id}/file."""
        ctx = ctx_of(request)
        image = self.get(request.match_info["id"], ctx)
        await self.cloud.faults.hit("image.download")
        if image["status"] == "deactivated" and not ctx.is_admin:
            raise forbidden("The requested image has been deactivated. Image data download is forbidden.")
        path = self.data_dir / image["id"]
        if image["status"] != "active" or not path.exists():
            return web.Response(status=204)
        return web.FileResponse(
            path,
            chunk_size=CHUNK,
            headers={"Content-Type": "application/octet-stream", "Content-MD5": image["checksum"] or ""},
        )

    async def _set_status(self, request: web.Request, status: str, allowed: tuple[str, ...]) -> web.Response:
        ctx = ctx_of(request)
        if not ctx.is_admin:
            raise forbidden("You are not authorized to complete this action.")
        image = self.get(request.match_info["id"], ctx)
        if image["status"] not in allowed:
            raise forbidden(f"Not allowed to {status} image in status '{image['status']}'")
        image.update(status=status, updated_at=now_iso())
        self.store.put("image", image)
        return web.Response(status=204)

    async def deactivate(self, request: web.Request) -> web.Response:
        """POST /image/v2/images/{id}/actions/deactivate."""
        return await self._set_status(request, "deactivated", ("active", "deactivated"))

    async def reactivate(self, request: web.Request) -> web.Response:
        """POST /image/v2/images/{id}/actions/reactivate."""
        return await self._set_status(request, "active", ("active", "deactivated"))

    async def add_tag(self, request: web.Request) -> web.Response:
        """PUT /image/v2/images/{id}/tags/{tag}."""
        image = self.get(request.match_info["id"], ctx_of(request))
        if request.match_info["tag"] not in image["tags"]:
            image["tags"].append(request.match_info["tag"])
            self.store.put("image", image)
        return web.Response(status=204)

    async def remove_tag(self, request: web.Request) -> web.Response:
        """DELETE /image/v2/images/{id}/tags/{tag}."""
        image = self.get(request.match_info["id"], ctx_of(request))
        if request.match_info["tag"] not in image["tags"]:
            raise not_found(f"Tag {request.match_info['tag']} not found")
        image["tags"].remove(request.match_info["tag"])
        self.store.put("image", image)
        return web.Response(status=204)

    async def schema(self, request: web.Request) -> web.Response:
        """GET /image/v2/schemas/image, GET /image/v2/schemas/images."""
        ctx_of(request)
        props = {
            k: {"type": ["null", "string"]} for k in ("name", "disk_format", "container_format", "visibility")
        }
        return json_response(
            {"name": "image", "properties": props, "additionalProperties": {"type": "string"}}
        )

    async def import_info(self, request: web.Request) -> web.Response:
        """GET /image/v2/info/import."""
        ctx_of(request)
        return json_response({"import-methods": {"description": "Import methods available.", "type": "array",
                                                 "value": []}})  # fmt: skip

    async def stores_info(self, request: web.Request) -> web.Response:
        """GET /image/v2/info/stores."""
        ctx_of(request)
        return json_response(
            {"stores": [{"id": "file", "default": True, "description": "Dev cloud state dir"}]}
        )


_ZEROS = bytes(16 << 20)


def _write_thin(fh: Any, chunk: bytes) -> None:
    """Write a chunk, or leave a hole when it is all zeros (Glance's ``filesystem_thin_provisioning``)."""
    if _ZEROS.startswith(chunk):  # a memcmp against zeros, without copying the chunk
        fh.seek(len(chunk), os.SEEK_CUR)
    else:
        fh.write(chunk)
