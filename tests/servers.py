"""Real ``zhendi serve`` processes for scale-out tests: several servers, one database.

``servers(database_url, count, tmp_path)`` starts ``count`` subprocesses on
free ports, each run as a user would (``zhendi serve`` with a clean
environment, as tests/test_cli.py does), against one database and with the
test suite's JWT secret and PII key, so that a token issued in the test with
``app.core.tokens.issue(settings, ...)`` works on every one of them. It waits
until each answers ``/readyz``, yields their base URLs, and stops them at the
end. Their output goes to files (a pipe nobody reads would block a chatty
server); a failure inside the block gets the tail of every server's output
attached as a note, and ``Servers.output()`` gives it to assertions.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import TEST_JWT_SECRET, TEST_PII_KEY

ZHENDI = str(Path(sys.executable).with_name("zhendi"))
READY_SECONDS = 60.0
STOP_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_env(database_url: str, extra: Mapping[str, str] = {}) -> dict[str, str]:
    """The environment of a server: this one without ``ZHENDI_*``, plus the
    database, the suite's secrets, development login, and ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZHENDI_")}
    env.update(
        {
            "ZHENDI_DATABASE_URL": database_url,
            "ZHENDI_JWT_SECRET": TEST_JWT_SECRET,
            "ZHENDI_PII_KEY": TEST_PII_KEY,
            "ZHENDI_DEV_LOGIN": "true",
            "ZHENDI_WECHAT_API_BASE": "http://127.0.0.1:9",
            # The tests log many residents in from one address.
            "ZHENDI_RATE_LIMIT_WECHAT_PER_IP": "100000 per minute",
        }
    )
    env.update(extra)
    return env


@dataclass
class Server:
    url: str
    process: "subprocess.Popen[bytes]"
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Servers:
    servers: list[Server] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    def output(self, tail_lines: int | None = None, *, access_log: bool = True) -> str:
        """Every server's output, or its last ``tail_lines`` lines (without the
        one line per request unless ``access_log``)."""
        parts = []
        for server in self.servers:
            lines = server.output().splitlines()
            if not access_log:
                lines = [line for line in lines if " zhendi.access " not in line]
            if tail_lines is not None:
                lines = lines[-tail_lines:]
            parts.append(f"--- {server.url} (pid {server.process.pid}) ---\n" + "\n".join(lines))
        return "\n".join(parts)


def _start(database_url: str, env: Mapping[str, str], work_dir: Path, index: int) -> Server:
    port = free_port()
    log_path = work_dir / f"server-{index}-{port}.log"
    with log_path.open("wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [ZHENDI, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=work_dir,
            env=server_env(database_url, env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Server(f"http://127.0.0.1:{port}", process, log_path)


def _wait_ready(server: Server, deadline: float) -> None:
    while True:
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.process.poll() is not None:
            raise RuntimeError(
                f"zhendi serve exited with {server.process.returncode}:\n{server.output()}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"zhendi serve did not become ready:\n{server.output()}")
        time.sleep(0.1)


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(STOP_SECONDS)


@contextmanager
def servers(
    database_url: str, count: int, work_dir: Path, env: Mapping[str, str] = {}
) -> Iterator[Servers]:
    """``count`` ready servers on ``database_url`` (migrated by the servers
    themselves: replicas starting together take turns on an advisory lock)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    running = Servers()
    with ExitStack() as stack:
        for index in range(count):
            server = _start(database_url, env, work_dir, index)
            stack.callback(_stop, server)
            running.servers.append(server)
        try:
            deadline = time.monotonic() + READY_SECONDS
            for server in running.servers:
                _wait_ready(server, deadline)
            yield running
        except BaseException as exc:
            stack.close()  # stop them first, so that their output is complete
            note = running.output(60, access_log=False)
            exc.add_note(f"server output (the last 60 lines but requests, each):\n{note}")
            raise
