"""``python -m bench.city``: build the city on PostgreSQL, serve it with two
``zhendi serve`` and two ``zhendi worker`` processes, drive it with Locust,
and report (README.md beside this file)."""

import argparse
import asyncio
import csv
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import asyncpg
import httpx

from app.models import HOLDING_SQL
from bench.city import build
from bench.city.figures import FULL, SMALL_SCALE

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / ".work"
SERVERS = 2
WORKERS = 2
# Holding bookings of one space overlapping beyond what it holds: an exclusive
# space's two holders at once, or a shared one's seats over its capacity at
# the start of any of its bookings (where a peak begins).
OVER_CAPACITY = f"""
SELECT count(*) FROM reservations r JOIN spaces s ON s.id = r.space_id
WHERE r.status IN ({HOLDING_SQL})
  AND (SELECT coalesce(sum(o.attendees), 0) FROM reservations o
       WHERE o.space_id = r.space_id AND o.status IN ({HOLDING_SQL})
         AND o.starts_at <= r.starts_at AND o.ends_at > r.starts_at)
      > CASE WHEN s.booking_mode = 'exclusive' THEN 1 ELSE s.capacity END
"""


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(database: str) -> dict[str, str]:
    env = {
        **os.environ,
        "ZHENDI_DATABASE_URL": build.dsn(database).replace(
            "postgresql://", "postgresql+asyncpg://"
        ),
        "ZHENDI_ENV": "development",
        "ZHENDI_DEV_LOGIN": "false",
        "ZHENDI_LOG_LEVEL": "WARNING",
    }
    env.setdefault("ZHENDI_JWT_SECRET", secrets.token_urlsafe(48))
    env.setdefault("ZHENDI_PII_KEY", secrets.token_hex(32))
    if os.environ.get("BENCH_CITY_REDIS_URL"):
        env["ZHENDI_REDIS_URL"] = os.environ["BENCH_CITY_REDIS_URL"]
    return env


@contextmanager
def _process(command: Sequence[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output, cwd=ROOT)
        try:
            yield
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_ready(base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{base} did not become ready")


def _stats(prefix: Path) -> list[str]:
    """Locust's per-endpoint figures as a Markdown table."""
    lines = [
        "| endpoint | requests | failures | req/s | p50 ms | p95 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    with (prefix.parent / f"{prefix.name}_stats.csv").open() as table:
        for row in csv.DictReader(table):
            lines.append(
                f"| {row['Type']} {row['Name']} | {row['Request Count']} | "
                f"{row['Failure Count']} | {float(row['Requests/s']):.1f} | {row['50%']} | "
                f"{row['95%']} | {row['99%']} |"
            )
    return lines


async def _over_capacity(database: str) -> int:
    db = await asyncpg.connect(build.dsn(database))
    try:
        return int(await db.fetchval(OVER_CAPACITY))
    finally:
        await db.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.city", description=__doc__)
    parser.add_argument("--scale", type=float, default=SMALL_SCALE, help="of the full city")
    parser.add_argument("--full", action="store_true", help="the full city (scale 1)")
    parser.add_argument("--users", type=int, default=200, help="simulated residents")
    parser.add_argument("--spawn-rate", type=float, default=20, help="residents started a second")
    parser.add_argument("--seconds", type=int, default=300, help="how long the load runs")
    parser.add_argument("--no-build", action="store_true", help="reuse the last city")
    parser.add_argument("--database", default=build.DATABASE)
    args = parser.parse_args(argv)
    scale = 1.0 if args.full else args.scale
    city = FULL.scaled(scale)
    WORK.mkdir(parents=True, exist_ok=True)
    manifest_path = WORK / "city.json"
    if not args.no_build:
        started = time.monotonic()
        manifest = asyncio.run(build.build(city, scale, args.database))
        manifest.write(manifest_path)
        print(f"built {city} in {time.monotonic() - started:.0f} s")
    env = _env(args.database)
    ports = [_port() for _ in range(SERVERS)]
    hosts = [f"http://127.0.0.1:{port}" for port in ports]
    zhendi = [sys.executable, "-m", "app.cli"]
    with ExitStack() as processes:
        for port in ports:
            serve = [*zhendi, "serve", "--port", str(port)]
            processes.enter_context(_process(serve, env, WORK / f"city-serve-{port}.log"))
        for n in range(WORKERS):
            worker = [*zhendi, "worker"]
            processes.enter_context(_process(worker, env, WORK / f"city-worker-{n}.log"))
        for host in hosts:
            _wait_ready(host)
        prefix = WORK / "city"
        locust = [
            sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("locustfile.py")),
            "--headless", "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
            "--run-time", f"{args.seconds}s", "--csv", str(prefix), "--only-summary",
            "--host", hosts[0],
        ]  # fmt: skip
        load_env = {
            **env,
            "BENCH_CITY_HOSTS": ",".join(hosts),
            "BENCH_CITY_MANIFEST": str(manifest_path),
        }
        subprocess.run(locust, env=load_env, cwd=ROOT, check=False)
    over = asyncio.run(_over_capacity(args.database))
    print("\n".join(_stats(prefix)))
    print(f"\nholding bookings beyond their space's capacity: {over}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
