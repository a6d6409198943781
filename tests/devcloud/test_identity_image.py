"""Keystone and Glance of the dev cloud, driven by the real openstacksdk."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import openstack
import pytest

from ectui.devcloud import DevCloudHandle

from .conftest import write_file


def test_auth_gives_a_project_token_and_a_catalog(conn: openstack.connection.Connection) -> None:
    token = conn.authorize()
    assert token
    access = conn.session.auth.get_access(conn.session)
    assert access.project_name == "demo"
    assert "admin" in access.role_names
    types = {entry["type"] for entry in access.service_catalog.catalog}
    assert {"identity", "compute", "image", "network"} <= types
    assert conn.identity.find_project("demo") is not None
    assert {u.name for u in conn.identity.users()} >= {"admin", "member"}


def test_requests_without_a_valid_token_get_401(devcloud: DevCloudHandle) -> None:
    for path, token in (("/compute/v2.1/servers", None), ("/image/v2/images", "not-a-token")):
        req = urllib.request.Request(devcloud.url + path, headers={"X-Auth-Token": token} if token else {})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10)
        assert info.value.code == 401


def test_wrong_password_is_refused(devcloud: DevCloudHandle) -> None:
    bad = openstack.connection.Connection(
        auth_url=devcloud.auth_url, username="admin", password="wrong", project_name="demo",
        user_domain_name="Default", project_domain_name="Default",
    )  # fmt: skip
    with pytest.raises(openstack.exceptions.SDKException, match="401"):
        bad.authorize()


def test_image_list_paginates_every_image_once(conn: openstack.connection.Connection) -> None:
    names = {f"page-{i:03d}" for i in range(250)}
    for name in sorted(names):
        conn.image.create_image(
            name, allow_duplicates=True, disk_format="raw", container_format="bare", tags=["page"]
        )
    seen = [i.name for i in conn.image.images(tag="page", limit=25)]
    assert len(seen) == 250
    assert set(seen) == names
    # the raw API: a `next` link per page of 25, newest first
    body = conn.image.get("/images?tag=page&limit=100").json()
    assert len(body["images"]) == 100
    assert body["next"].startswith("/v2/images?")
    assert body["images"][0]["name"] == "page-249"


def test_image_filters(conn: openstack.connection.Connection) -> None:
    assert [i.name for i in conn.image.images(name="cirros-0.6.2")] == ["cirros-0.6.2"]
    queued = conn.image.create_image(
        "filter-queued", allow_duplicates=True, disk_format="raw", container_format="bare"
    )
    assert queued.status == "queued"
    statuses = {i.status for i in conn.image.images(status="queued")}
    assert statuses == {"queued"}
    assert "cirros-0.6.2" in {i.name for i in conn.image.images(status="active", visibility="public")}
    conn.image.delete_image(queued)


def test_upload_download_update_delete(conn: openstack.connection.Connection, tmp_path: Path) -> None:
    src = write_file(tmp_path / "disk.raw", 3 * 1024 * 1024 + 123)
    data = src.read_bytes()
    image = conn.image.create_image(
        "uploaded-disk", filename=str(src), disk_format="raw", container_format="bare", os_type="linux"
    )
    image = conn.image.get_image(image)
    assert image.status == "active"
    assert image.size == len(data)
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert image.hash_algo == "sha512"
    assert image.hash_value == hashlib.sha512(data).hexdigest()
    assert image.properties.get("os_type") == "linux" or image.os_type == "linux"

    out = tmp_path / "back.raw"
    conn.image.download_image(image, output=str(out))
    assert out.read_bytes() == data

    image = conn.image.update_image(image, name="renamed-disk", ectui_source="console")
    assert image.name == "renamed-disk"
    assert conn.image.get_image(image).properties["ectui_source"] == "console"

    conn.image.delete_image(image)
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.image.get_image(image.id)


def test_upload_cut_by_a_dropped_connection_leaves_no_active_image(
    conn: openstack.connection.Connection, fault, tmp_path: Path
) -> None:
    src = write_file(tmp_path / "big.raw", 4 * 1024 * 1024)
    fault("image.upload", drop_after_bytes=1024 * 1024)
    with pytest.raises(openstack.exceptions.SDKException):
        conn.image.create_image("dropped", filename=str(src), disk_format="raw", container_format="bare")
    # the SDK deletes the half-made image; if it did not, the image must not be active
    assert all(i.status != "active" for i in conn.image.images(name="dropped"))


def test_upload_to_an_active_image_conflicts(conn: openstack.connection.Connection) -> None:
    image = conn.image.find_image("cirros-0.6.2")
    resp = conn.image.put(
        f"/images/{image.id}/file", data=b"x", headers={"Content-Type": "application/octet-stream"}
    )
    assert resp.status_code == 409


def test_image_create_fault_answers_the_status(conn: openstack.connection.Connection, fault) -> None:
    fault("image.create", status=500)  # not 503: keystoneauth retries a 503 on its own
    with pytest.raises(openstack.exceptions.HttpException) as info:
        conn.image.create_image("faulty", allow_duplicates=True, disk_format="raw", container_format="bare")
    assert info.value.status_code == 500
    image = conn.image.create_image(
        "faulty", allow_duplicates=True, disk_format="raw", container_format="bare"
    )
    conn.image.delete_image(image)


def test_list_fault_then_success(conn: openstack.connection.Connection, fault) -> None:
    fault("image.list", status=500)
    with pytest.raises(openstack.exceptions.HttpException):
        list(conn.image.images())
    assert list(conn.image.images(name="cirros-0.6.2"))
