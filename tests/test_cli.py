"""The ``zhendi`` command, run as a user would: a subprocess in another directory."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app import demo, demo_data
from tests.conftest import TemporaryDatabases

ZHENDI = str(Path(sys.executable).with_name("zhendi"))


def run(cwd: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZHENDI_")}
    if database_url:
        env["ZHENDI_DATABASE_URL"] = database_url
    return subprocess.run(
        [ZHENDI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_upgrade_seed_and_create_staff(
    engine: str, tmp_path: Path, temporary_databases: TemporaryDatabases
) -> None:
    url = temporary_databases.new(engine)
    upgraded = run(tmp_path, "db", "upgrade", database_url=url)
    assert upgraded.returncode == 0, upgraded.stderr

    first = run(tmp_path, "seed-demo", database_url=url)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"{len(demo_data.CENTERS)} centers")
    again = run(tmp_path, "seed-demo", database_url=url)
    assert again.stdout.startswith("0 centers, 0 spaces and 0 staff"), again.stdout

    created = run(
        tmp_path, "create-staff", "putuo-admin", "--password", "a-long-password",
        "--role", "district_admin", "--district", "普陀区", database_url=url,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "putuo-admin" in created.stdout
    duplicate = run(
        tmp_path, "create-staff", "putuo-admin", "--password", "a-long-password",
        "--role", "super_admin", database_url=url,
    )  # fmt: skip
    assert duplicate.returncode != 0
    assert "Already exists" in duplicate.stderr
    no_district = run(
        tmp_path, "create-staff", "someone", "--password", "a-long-password",
        "--role", "district_admin", database_url=url,
    )  # fmt: skip
    assert no_district.returncode != 0
    assert "district" in no_district.stderr


def test_production_refuses_to_start_with_defaults(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZHENDI_")}
    env["ZHENDI_ENV"] = "production"
    result = subprocess.run(
        [ZHENDI, "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "refusing to start in production" in result.stderr
    assert not (tmp_path / "zhendi.db").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_demo_from_an_empty_directory(tmp_path: Path) -> None:
    """The README's first command: migrate, seed and serve on the SQLite default."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZHENDI_")}
    server = subprocess.Popen(
        [ZHENDI, "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, "server exited early"
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        centers = httpx.get(f"{base}/api/v1/centers", params={"district": "普陀区"}).json()
        assert "长征镇丽湖居民区党群服务站" in {center["name"] for center in centers["items"]}
        study = httpx.get(f"{base}/api/v1/spaces", params={"kind": "study_room"}).json()
        yuexin = next(space for space in study["items"] if space["name"] == "阅心书斋")
        assert (yuexin["booking_mode"], yuexin["capacity"], yuexin["open_24h"]) == (
            "shared",
            10,
            True,
        )
        assert yuexin["requires_real_name"] is True
        login = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": demo.DEMO_SUPER_ADMIN, "password": demo.DEMO_STAFF_PASSWORD},
        )
        assert login.status_code == 200, login.text
        resident = httpx.post(f"{base}/api/v1/auth/wechat", json={"code": demo.DEMO_RESIDENT_CODE})
        assert resident.status_code == 200, resident.text
        docs = httpx.get(f"{base}/docs")
        assert docs.status_code == 200
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    assert demo.DEMO_STAFF_PASSWORD in output  # the demo accounts are printed
    assert (tmp_path / "zhendi.db").exists()
    assert (tmp_path / "zhendi-dev-secrets.json").exists()


def test_purge_personal_data_runs_from_the_command_line(
    tmp_path: Path, temporary_databases: TemporaryDatabases
) -> None:
    url = temporary_databases.new("sqlite")
    result = run(tmp_path, "purge-personal-data", database_url=url)
    assert result.returncode == 0, result.stderr
    assert "purge-personal-data: 0 door attempts deleted, 0 audit events" in result.stdout
