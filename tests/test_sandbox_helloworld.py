"""The helloworld "pod": a real process on a real port, driven with curl, httpx and raw sockets."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.loop_helpers import wait_pid_gone

ROOT = str(Path(__file__).resolve().parent.parent)
CURL = "/usr/bin/curl"
DATE = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_line(proc: subprocess.Popen[bytes], text: str, timeout: float = 10.0) -> str:
    """Read the process's stderr until a line containing ``text`` (or fail at the deadline)."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + timeout
    said = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {text!r} from the process; it said {said!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise AssertionError(f"process exited ({proc.wait()}); it said {said!r}")
            said += chunk
            for line in said.decode(errors="replace").splitlines():
                if text in line:
                    return line


def start(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    full_env = {"PYTHONPATH": ROOT, "PORT": str(port), **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kn_walk.sandbox.node.helloworld"],
        env=full_env,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_for_line(proc, f"listening on port {port}")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, port


@pytest.fixture
def hello() -> Iterator[int]:
    proc, port = start({"TARGET": "Go Sample v1"})
    yield port
    proc.terminate()
    assert proc.wait(10) == 0


def raw(port: int, data: bytes, until_close: bool = True, expect: int = 0) -> bytes:
    """Send ``data``; read until the server closes, or until ``expect`` bytes arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            out += chunk
            if not chunk or (not until_close and len(out) >= expect):
                return out


def test_curl_gets_exactly_the_sample_answer(hello: int) -> None:
    body = subprocess.run(
        [CURL, "-s", f"http://127.0.0.1:{hello}/"], capture_output=True, check=True
    ).stdout
    assert body == b"Hello Go Sample v1!\n"
    head = subprocess.run(
        [CURL, "-s", "-D", "-", "-o", "/dev/null", f"http://127.0.0.1:{hello}/"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    lines = head.strip().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    fields = dict(line.split(": ", 1) for line in lines[1:])
    assert fields["Content-Type"] == "text/plain; charset=utf-8"
    assert fields["Content-Length"] == "20"
    assert DATE.match(fields["Date"])
    assert set(fields) == {"Date", "Content-Length", "Content-Type"}


@pytest.mark.parametrize("env", [{}, {"TARGET": ""}])
def test_target_unset_says_hello_world(env: dict[str, str]) -> None:
    proc, port = start(env)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/").text == "Hello World!\n"
    finally:
        proc.terminate()
        proc.wait(10)


def test_any_method_path_and_body(hello: int) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"a" * 70000
        yield b"b" * 3

    with httpx.Client(base_url=f"http://127.0.0.1:{hello}") as client:
        assert client.get("/some/path?x=1").text == "Hello Go Sample v1!\n"
        assert client.post("/", content=b"x" * 200_000).text == "Hello Go Sample v1!\n"
        assert client.put("/chunked", content=chunks()).text == "Hello Go Sample v1!\n"
        assert client.delete("/").status_code == 200
        head = client.head("/")
        assert head.status_code == 200
        assert head.headers["content-length"] == "20"
        assert head.content == b""
        # all of that on one kept-alive connection
        assert client.get("/").text == "Hello Go Sample v1!\n"


def test_pipelined_requests_are_answered_in_order(hello: int) -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    out = raw(hello, request * 3 + last)
    responses = out.split(b"HTTP/1.1 200 OK\r\n")[1:]
    assert len(responses) == 4
    assert all(r.endswith(b"\r\n\r\nHello Go Sample v1!\n") for r in responses[:3])
    assert b"Connection: close\r\n" in responses[3]
    assert responses[3].endswith(b"\r\n\r\n")


def test_http10_closes_unless_keep_alive(hello: int) -> None:
    out = raw(hello, b"GET / HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.0 200 OK\r\n")
    assert out.endswith(b"Hello Go Sample v1!\n")
    out = raw(
        hello, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", until_close=False, expect=140
    )
    assert b"Connection: keep-alive\r\n" in out


def test_malformed_request_gets_400(hello: int) -> None:
    out = raw(hello, b"NONSENSE\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_sigterm_exits_cleanly() -> None:
    proc, port = start({})
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_exits_when_its_parent_is_killed() -> None:
    """A kill -9 of the sandbox leaves no helloworld behind (parent-death signal)."""
    script = (
        "import os, signal, subprocess, sys\n"
        "env = dict(PYTHONPATH=sys.argv[1], PORT=sys.argv[2])\n"
        "env['KN_WALK_PARENT_PID'] = str(os.getpid())\n"
        "child = subprocess.Popen([sys.executable, '-m', 'kn_walk.sandbox.node.helloworld'], env=env)\n"
        "print(child.pid, flush=True)\n"
        "signal.pause()\n"
    )
    port = free_port()
    # the child inherits the parent's stderr: our pipe
    parent = subprocess.Popen(
        [sys.executable, "-c", script, ROOT, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        wait_for_line(parent, f"listening on port {port}")
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        parent.kill()
        parent.wait(10)
        assert wait_pid_gone(child), "helloworld outlived its parent"
    finally:
        parent.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)
