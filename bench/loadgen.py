"""Load from a separate process: wrk (with a Lua script) when installed, else a
small asyncio client; and a burst client for the surge scenario."""

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

LUA = Path(__file__).with_name("lua") / "replay.lua"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: str = ""
    idempotency_key: str = ""
    # This request's own Authorization (a different resident each), else the run's.
    authorization: str = ""


@dataclass(frozen=True)
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    server_errors: int
    server_cpu_us: float | None = None  # CPU per request, filled in by bench.run
    postgres_cpu_us: float | None = None


def _write_requests(requests: Sequence[Request]) -> str:
    handle = tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False)
    with handle:
        for item in requests:
            handle.write(
                f"{item.method}\t{item.path}\t{item.idempotency_key}\t{item.authorization}"
                f"\t{item.body}\n"
            )
    return handle.name


def run_load(
    base_url: str,
    requests: Sequence[Request],
    *,
    seconds: float,
    connections: int,
    authorization: str = "",
    loadgen: str = "auto",
) -> Measurement:
    """Replay ``requests`` (round robin, each at most once per pass) for ``seconds``."""
    use_wrk = loadgen == "wrk" or (loadgen == "auto" and shutil.which("wrk"))
    if use_wrk:
        return _wrk(base_url, requests, seconds, connections, authorization)
    return asyncio.run(_python_load(base_url, requests, seconds, connections, authorization))


def _wrk(
    base_url: str,
    requests: Sequence[Request],
    seconds: float,
    connections: int,
    authorization: str,
) -> Measurement:
    threads = 2
    path = _write_requests(requests)
    env = {
        **os.environ,
        "BENCH_REQUESTS": path,
        "BENCH_AUTH": authorization,
        "BENCH_THREADS": str(threads),
    }
    try:
        output = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{max(connections, threads)}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                str(LUA),
                base_url,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(path)
    summary = json.loads(output.strip().splitlines()[-1])
    return Measurement(
        rps=summary["requests"] / summary["seconds"],
        p50_ms=summary["p50_ms"],
        p99_ms=summary["p99_ms"],
        requests=summary["requests"],
        non_2xx=summary["non_2xx"] + summary["socket_errors"],
        server_errors=summary["server_errors"],
    )


DROPPED = 0  # the status of a request whose connection dropped: no answer


async def _python_load(
    base_url: str,
    requests: Sequence[Request],
    seconds: float,
    connections: int,
    authorization: str,
) -> Measurement:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    headers = {"Authorization": authorization} if authorization else {}
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()

    async def worker(offset: int, client: httpx.AsyncClient) -> None:
        index = offset
        while time.perf_counter() < deadline:
            item = requests[index % len(requests)]
            index += connections
            sent = time.perf_counter()
            try:
                response = await client.request(
                    item.method,
                    item.path,
                    content=item.body or None,
                    headers=_headers(headers, item),
                )
            except httpx.TransportError:
                # A connection the server dropped (a keep-alive closed under a
                # starved CPU): counted as a failed request, as wrk counts it.
                statuses[DROPPED] += 1
                continue
            latencies.append(time.perf_counter() - sent)
            statuses[response.status_code] += 1

    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(offset, client) for offset in range(connections)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    return Measurement(
        rps=len(latencies) / elapsed,
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        requests=len(latencies),
        non_2xx=sum(count for status, count in statuses.items() if not 200 <= status < 300),
        server_errors=sum(count for status, count in statuses.items() if status >= 500),
    )


def _headers(common: dict[str, str], item: Request) -> dict[str, str]:
    headers = dict(common)
    if item.authorization:
        headers["Authorization"] = item.authorization
    if item.body:
        headers["Content-Type"] = "application/json"
    if item.idempotency_key:
        headers["Idempotency-Key"] = item.idempotency_key
    return headers


@dataclass(frozen=True)
class Burst:
    seconds: float
    statuses: dict[str, int]


def burst(base_url: str, path: str, bodies_and_tokens: Sequence[tuple[str, str]]) -> Burst:
    """Send every request at once (one connection each) and time until the last answer."""
    return asyncio.run(_burst(base_url, path, bodies_and_tokens))


async def _burst(base_url: str, path: str, items: Sequence[tuple[str, str]]) -> Burst:
    limits = httpx.Limits(max_connections=len(items), max_keepalive_connections=len(items))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(
            *(
                client.post(
                    path,
                    content=body,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                )
                for body, token in items
            ),
            return_exceptions=True,
        )
        elapsed = time.perf_counter() - started
    statuses: Counter[str] = Counter()
    for response in responses:
        if isinstance(response, BaseException):
            statuses[type(response).__name__] += 1
        else:
            code = response.json().get("code", "") if response.status_code >= 400 else ""
            statuses[f"{response.status_code} {code}".strip()] += 1
    return Burst(seconds=elapsed, statuses=dict(statuses))


if __name__ == "__main__":  # pragma: no cover - manual use
    sys.exit("use bench/run.py")
