"""The ``zhendi`` command, run as a user would: a subprocess in another directory."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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
    street = run(
        tmp_path, "create-staff", "changfeng-admin", "--password", "a-long-password",
        "--role", "street_admin", "--district", "普陀区", "--street", "长风新村街道",
        database_url=url,
    )  # fmt: skip
    assert street.returncode == 0, street.stderr
    no_street = run(
        tmp_path, "create-staff", "someone", "--password", "a-long-password",
        "--role", "street_admin", "--district", "普陀区", database_url=url,
    )  # fmt: skip
    assert no_street.returncode != 0
    assert "street" in no_street.stderr
    subtree = run(
        tmp_path, "create-staff", "hub-admin", "--password", "a-long-password",
        "--role", "center_admin", "--center", "1", "--scope", "subtree", database_url=url,
    )  # fmt: skip
    assert subtree.returncode == 0, subtree.stderr


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


# --- refusals at start: one line, no traceback ----------------------------------------


def serve(
    cwd: Path, env: dict[str, str], *args: str, timeout: float = 60
) -> tuple[int | None, str]:
    """``zhendi serve`` with ``env`` (besides this one's, without ``ZHENDI_*``):
    its exit status and stderr, or ``None`` if it was still running after
    ``timeout`` seconds (it, and any worker it started, is then killed)."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("ZHENDI_")}
    process = subprocess.Popen(
        [ZHENDI, "serve", "--port", str(_free_port()), *args],
        cwd=cwd,
        env={**base, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return None, ""
    return process.returncode, stderr


def assert_one_line(returncode: int | None, stderr: str, expected: str) -> None:
    assert returncode not in (None, 0), (returncode, stderr)
    assert "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines() == [expected], stderr


def test_serve_refuses_several_workers_on_sqlite(tmp_path: Path) -> None:
    """Each process would run every periodic job (README: Workers and jobs)."""
    returncode, stderr = serve(tmp_path, {}, "--workers", "2")
    assert_one_line(
        returncode,
        stderr,
        "zhendi: --workers 2 needs PostgreSQL: on SQLite one process serves and runs the "
        "periodic jobs (set ZHENDI_DATABASE_URL to PostgreSQL, or use --workers 1)",
    )
    assert not (tmp_path / "zhendi.db").exists()


def test_serve_refuses_several_workers_that_would_each_run_the_jobs(tmp_path: Path) -> None:
    env = {
        "ZHENDI_DATABASE_URL": "postgresql+asyncpg://zhendi@127.0.0.1:9/zhendi",
        "ZHENDI_JOBS_IN_PROCESS": "true",
    }
    returncode, stderr = serve(tmp_path, env, "--workers", "3")
    assert_one_line(
        returncode,
        stderr,
        "zhendi: --workers 3 with ZHENDI_JOBS_IN_PROCESS=true would run every job 3 times: "
        "leave the jobs to `zhendi worker`, or use --workers 1",
    )


def test_the_docker_image_serves_one_process_on_its_sqlite_default() -> None:
    dockerfile = (Path(__file__).parents[1] / "Dockerfile").read_text()
    assert "ZHENDI_DATABASE_URL=sqlite" in dockerfile
    [command] = [line for line in dockerfile.splitlines() if line.startswith("CMD ")]
    arguments = json.loads(command.removeprefix("CMD "))
    assert arguments[:2] == ["zhendi", "serve"]
    workers = arguments[arguments.index("--workers") + 1] if "--workers" in arguments else "1"
    assert workers == "1", command


@contextmanager
def silent_server() -> Iterator[int]:
    """A port where the kernel completes each connection and nobody ever
    answers: a database behind a network partition, to its clients."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # never accepted, never read
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("how", ["refused", "silent"])
def test_serve_exits_with_one_line_when_the_database_cannot_be_reached(
    how: str, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        port = 9 if how == "refused" else stack.enter_context(silent_server())
        url = f"postgresql+asyncpg://zhendi:not-shown@127.0.0.1:{port}/zhendi"
        env = {"ZHENDI_DATABASE_URL": url, "ZHENDI_DATABASE_CONNECT_TIMEOUT_SECONDS": "2"}
        started = time.monotonic()
        returncode, stderr = serve(tmp_path, env)
        seconds = time.monotonic() - started
    where = f"zhendi: cannot reach the database at postgresql+asyncpg://zhendi:***@127.0.0.1:{port}"
    reason = "no answer within 2 s" if how == "silent" else "Connect call failed"
    assert_one_line(returncode, stderr, stderr.strip())
    assert stderr.startswith(f"{where}/zhendi: "), stderr
    assert reason in stderr, stderr
    assert "not-shown" not in stderr
    assert seconds < 45  # the start itself takes seconds on a loaded machine
