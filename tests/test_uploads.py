"""Uploads (README, "Uploads"): images only, their type read from their
bytes, at most ``ZHENDI_UPLOAD_MAX_BYTES``, kept on disk, read back only by
their owner (or by staff through the suggestion they are attached to)."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings, running
from tests.factories import Api, Headers
from tests.test_errors import assert_problem

UPLOADS = "/api/v1/uploads"
LIMIT = 4096
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    settings = make_settings(database_url, upload_dir=tmp_path, upload_max_bytes=LIMIT)
    async with running(settings) as running_api:
        yield running_api


async def upload(
    api: Api,
    headers: Headers,
    data: bytes,
    name: str = "photo.png",
    content_type: str = "image/png",
) -> httpx.Response:
    return await api.client.post(
        UPLOADS, files={"file": (name, data, content_type)}, headers=headers
    )


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp")],
    ids=["png", "jpeg", "webp"],
)
async def test_an_image_is_kept_and_read_back_by_its_owner(
    api: Api, tmp_path: Path, data: bytes, content_type: str
) -> None:
    resident = await api.resident()
    # The client's name and type are ignored: the bytes say what it is.
    sent = await upload(api, resident, data, name="x.txt", content_type="text/plain")
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert (body["content_type"], body["size"]) == (content_type, len(data))
    assert len(list(tmp_path.iterdir())) == 1

    read = await api.client.get(f"{UPLOADS}/{body['id']}", headers=resident)
    assert read.status_code == 200
    assert read.content == data
    assert read.headers["content-type"] == content_type
    assert read.headers["x-content-type-options"] == "nosniff"

    stranger = await api.resident()
    assert_problem(
        await api.client.get(f"{UPLOADS}/{body['id']}", headers=stranger), 404, "not_found"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + b"\x00" * 32,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        b"",
        b"%PDF-1.7",
    ],
    ids=["gif", "svg", "wave", "empty", "pdf"],
)
async def test_anything_but_jpeg_png_or_webp_is_415_and_kept_nowhere(
    api: Api, tmp_path: Path, data: bytes
) -> None:
    resident = await api.resident()
    assert_problem(await upload(api, resident, data), 415, "unsupported_image")
    assert list(tmp_path.iterdir()) == []


async def test_an_image_over_the_limit_is_413(api: Api, tmp_path: Path) -> None:
    resident = await api.resident()
    exact = PNG + b"\x00" * (LIMIT - len(PNG))
    assert (await upload(api, resident, exact)).status_code == 201
    problem = assert_problem(await upload(api, resident, exact + b"\x00"), 413, "image_too_large")
    assert str(LIMIT) in str(problem["detail"])
    assert len(list(tmp_path.iterdir())) == 1


async def test_uploading_needs_a_resident_and_a_file(api: Api) -> None:
    assert (
        await api.client.post(UPLOADS, files={"file": ("a.png", PNG, "image/png")})
    ).status_code == 401
    staff = await api.staff()
    assert (await upload(api, staff, PNG)).status_code == 403
    resident = await api.resident()
    assert (await api.client.post(UPLOADS, headers=resident)).status_code == 422
