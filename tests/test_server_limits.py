"""Slow clients against a real ``zhendi serve``: the read deadlines of app/core/server.py.

One server with short limits (1 s for the head, 1 s for the body, 2 s of
keep-alive) is started for the module; each test talks to it over a raw
socket, sending as slowly as a slowloris does.
"""

import http.client
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.test_cli import ZHENDI, _free_port

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
KEEP_ALIVE = 2
SLACK = 1.5  # scheduling and the 0.3 s steps of the client
DRIBBLE_EVERY = 0.3
GIVE_UP = 8.0  # without the deadlines, every slow client below would still be connected


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ZHENDI_")}
    process = subprocess.Popen(
        [
            ZHENDI, "serve", "--port", str(port),
            "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT),
            "--keep-alive", str(KEEP_ALIVE),
        ],
        cwd=tmp_path_factory.mktemp("serve"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "server exited early"
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert "Traceback" not in output, output


def _dribble(sock: socket.socket, data: bytes) -> tuple[float, bytes]:
    """Send ``data`` one byte every DRIBBLE_EVERY seconds (then nothing) until the
    server closes the connection; return how long that took and what it answered."""
    started = time.monotonic()
    received = b""
    sock.settimeout(DRIBBLE_EVERY)
    sent = 0
    while time.monotonic() - started < GIVE_UP:
        if sent < len(data) and not received:  # stop talking once answered
            sock.sendall(data[sent : sent + 1])
            sent += 1
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return time.monotonic() - started, received
        received += chunk
    pytest.fail(f"the server kept a slow connection open for {GIVE_UP} s ({sent} bytes sent)")


def _timeout_problem(response: bytes) -> dict[str, object]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), response
    assert b"content-type: application/problem+json" in head.lower(), response
    assert b"connection: close" in head.lower(), response
    problem: dict[str, object] = json.loads(body)
    assert (problem["status"], problem["code"]) == (408, "request_timeout")
    return problem


def test_a_dribbled_request_head_is_cut_off(server: tuple[str, int]) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 60 + b"\r\n\r\n"
    with socket.create_connection(server) as sock:
        elapsed, response = _dribble(sock, request)
    assert HEADER_TIMEOUT - 0.1 <= elapsed <= HEADER_TIMEOUT + SLACK
    _timeout_problem(response)


def test_a_connection_that_sends_nothing_is_closed(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as sock:
        elapsed, response = _dribble(sock, b"")
    assert HEADER_TIMEOUT - 0.1 <= elapsed <= HEADER_TIMEOUT + SLACK
    assert response == b""  # nothing was asked, so nothing is answered


@pytest.mark.parametrize("rest", ["silence", "dribble"])
def test_a_slow_body_gets_408(server: tuple[str, int], rest: str) -> None:
    """The deadline is for the whole body: a byte every 0.3 s does not extend it."""
    head = (
        b"POST /api/v1/auth/wechat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\nAccept-Language: en\r\n\r\n"
    )
    with socket.create_connection(server) as sock:
        sock.sendall(head + b'{"code"')
        elapsed, response = _dribble(sock, b" " * 93 if rest == "dribble" else b"")
    assert BODY_TIMEOUT - 0.1 - DRIBBLE_EVERY <= elapsed <= BODY_TIMEOUT + SLACK
    problem = _timeout_problem(response)
    assert problem["title"] == "Request timeout"
    assert problem["instance"] == "/api/v1/auth/wechat"


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes]:
    sock.sendall(request)
    response = http.client.HTTPResponse(sock)
    response.begin()
    assert not response.will_close, response.getheaders()
    return response.status, response.read()


def test_a_keep_alive_client_is_served_and_idles_out(server: tuple[str, int]) -> None:
    body = json.dumps({"code": "dev:keep-alive"}).encode()
    login = (
        b"POST /api/v1/auth/wechat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection(server) as sock:
        sock.settimeout(5)
        assert _exchange(sock, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")[0] == 200
        # Idle between requests longer than the head deadline: keep-alive governs that.
        time.sleep(HEADER_TIMEOUT + 0.3)
        status, answer = _exchange(sock, login)
        assert status == 200, answer
        assert "access_token" in json.loads(answer)
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed once idle for --keep-alive seconds
    assert KEEP_ALIVE - 0.1 <= time.monotonic() - started <= KEEP_ALIVE + SLACK
