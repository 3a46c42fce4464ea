"""``python -m bench.city``: build the city on PostgreSQL, serve it with two
``zhendi serve`` and two ``zhendi worker`` processes, drive it with Locust,
and report (README.md beside this file)."""

import argparse
import asyncio
import csv
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict
from pathlib import Path

import httpx

from bench.city import build, measure, results
from bench.city.figures import FULL, SMALL_SCALE

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "bench" / ".work"
SERVERS = results.SERVERS
WORKERS = results.WORKERS
# Seconds a server keeps an idle connection: longer than a simulated user's
# longest wait (5 s), as a server's must outlast its balancer's idle timeout;
# at uvicorn's 5 s a reused connection now and then meets the server closing it.
KEEP_ALIVE = 30


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
def _process(
    command: Sequence[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output, cwd=ROOT)
        try:
            yield process
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


def _stats(prefix: Path) -> list[dict[str, str]]:
    with (prefix.parent / f"{prefix.name}_stats.csv").open() as table:
        return list(csv.DictReader(table))


def _cpu(processes: list[subprocess.Popen[bytes]]) -> float:
    return sum(measure.cpu_seconds(process.pid) or 0.0 for process in processes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.city", description=__doc__)
    parser.add_argument("--scale", type=float, default=SMALL_SCALE, help="of the full city")
    parser.add_argument("--full", action="store_true", help="the full city (scale 1)")
    parser.add_argument("--users", type=int, default=200, help="simulated residents")
    parser.add_argument("--spawn-rate", type=float, default=20, help="residents started a second")
    parser.add_argument("--seconds", type=int, default=300, help="how long the mix runs")
    parser.add_argument(
        "--surge-per-room", type=int, default=20, help="residents asking for each study room"
    )
    parser.add_argument(
        "--no-build", action="store_true", help="reuse the last city (kept with --keep)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the city's database")
    parser.add_argument("--database", default=build.DATABASE)
    parser.add_argument(
        "--results", type=Path, default=Path(__file__).with_name("RESULTS.md"), help="report"
    )
    args = parser.parse_args(argv)
    began = time.monotonic()
    scale = 1.0 if args.full else args.scale
    city = FULL.scaled(scale)
    WORK.mkdir(parents=True, exist_ok=True)
    manifest_path = WORK / "city.json"
    build_seconds = 0.0
    if not args.no_build:
        manifest = asyncio.run(build.build(city, scale, args.database))
        manifest.write(manifest_path)
        build_seconds = time.monotonic() - began
        print(f"built {city} in {build_seconds:.0f} s", flush=True)
    manifest = build.Manifest.read(manifest_path)
    env = _env(args.database)
    settings = measure.settings_from(env)
    ports = [_port() for _ in range(SERVERS)]
    hosts = [f"http://127.0.0.1:{port}" for port in ports]
    zhendi = [sys.executable, "-m", "app.cli"]
    prefix = WORK / "city"
    errors_path = WORK / "city-5xx.json"
    errors_path.unlink(missing_ok=True)
    sampler = measure.Sampler(args.database)
    with ExitStack() as processes:
        servers = [
            processes.enter_context(
                _process(
                    [*zhendi, "serve", "--port", str(port), "--keep-alive", str(KEEP_ALIVE)],
                    env,
                    WORK / f"city-serve-{port}.log",
                )
            )
            for port in ports
        ]
        workers = [
            processes.enter_context(
                _process([*zhendi, "worker"], env, WORK / f"city-worker-{n}.log")
            )
            for n in range(WORKERS)
        ]
        for host in hosts:
            _wait_ready(host)
        doors_path = WORK / "city-doors.json"
        doors_path.write_text(
            json.dumps(asyncio.run(measure.live_codes(hosts, manifest, settings)))
        )
        before = asyncio.run(measure.database_stats(args.database))
        sampler.start()
        cpu_before = (_cpu(servers), _cpu(workers))
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
            "BENCH_CITY_DOORS": str(doors_path),
            "BENCH_CITY_5XX": str(errors_path),
        }
        subprocess.run(locust, env=load_env, cwd=ROOT, check=False)
        postgres_mix = sampler.postgres_cpu()
        cpu_mix = (_cpu(servers) - cpu_before[0], _cpu(workers) - cpu_before[1])
        sampler.phase = "surge"
        cpu_before = (_cpu(servers), _cpu(workers))
        surge = asyncio.run(
            measure.surge(hosts, manifest, settings, args.surge_per_room, args.database)
        )
        cpu_surge = _cpu(servers) - cpu_before[0]
        time.sleep(2)
        sampler.stop()
    postgres_all = sampler.postgres_cpu()
    postgres_surge = None
    if postgres_all is not None and postgres_mix is not None:
        postgres_surge = postgres_all - postgres_mix
    found = asyncio.run(measure.checks(args.database, sampler, settings, before))
    rows = _stats(prefix)
    server_errors: dict[str, int] = (
        json.loads(errors_path.read_text()) if errors_path.exists() else {}
    )
    surge_5xx = sum(n for status, n in surge.statuses.items() if status[:1] not in "24")
    report = results.report(
        args=args,
        city=asdict(city),
        scale=scale,
        build_seconds=build_seconds,
        total_seconds=time.monotonic() - began,
        rows=rows,
        server_errors=server_errors,
        surge=surge,
        surge_5xx=surge_5xx,
        found=found,
        sampler=sampler,
        cpu_mix=cpu_mix,
        cpu_surge=cpu_surge,
        postgres_mix=postgres_mix,
        postgres_surge=postgres_surge,
    )
    args.results.write_text(report)
    if not args.keep:
        asyncio.run(build.drop(args.database))
    print(report)
    failed = (
        found.over_capacity
        or found.activities_over
        or sum(server_errors.values())
        or surge_5xx
        or surge.rooms_full != surge.rooms
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
