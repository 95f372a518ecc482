"""The sandbox's life cycle and its state dir (issue 17: "Two servers on one state dir").

One server per state dir, held by a lock for its whole life; `up` decides by the lock, and
a server that holds it without answering is named and can be stopped; `reset` knows every
file the sandbox and the tour write; an empty or foreign `--state-dir` is refused and left
as it was; `--faults` reads are bounded; Revisions at zero stay at zero across a restart.
Every test runs real processes: `python -m kn_walk`, the sandbox server, kubectl, HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from kn_walk.sandbox import control
from tests.conftest import start_sandbox
from tests.test_cli_support import knwalk
from tests.test_reliability_support import sizes
from tests.test_sandbox_pods import apply_service, pods_of, running, wait_pods

SERVER_MODULE = b"kn_walk.sandbox.server"


def _servers(state_dir: Path) -> list[int]:
    """The live sandbox servers whose --state-dir is ``state_dir`` (zombies do not count)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(") ", 1)[1][:1]
        except (OSError, IndexError):
            continue
        if SERVER_MODULE in args and state != "Z":
            with suppress(ValueError):
                if args[args.index(b"--state-dir") + 1] == os.fsencode(state_dir):
                    found.append(int(proc.name))
    return sorted(found)


def _alive(pid: int, timeout: float = 10.0) -> bool:
    """True while the process exists and is not a zombie; waits up to ``timeout`` for an exit."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1]
        except (FileNotFoundError, IndexError):
            return False
        if state == "Z" or time.monotonic() >= deadline:
            return state != "Z"
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    """The revision processes of the sandbox ``pid``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(") ", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"kn_walk.sandbox.node.helloworld" in cmdline:
            found.append(int(proc.name))
    return found


def _kill_all(state_dir: Path) -> None:
    """Stop whatever server still runs on ``state_dir`` (a test's cleanup)."""
    for pid in _servers(state_dir):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)


def _snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under ``root`` (and ``root``) with its mode and, for files, its content."""
    return {
        str(p.relative_to(root)): (
            p.lstat().st_mode,
            p.read_bytes() if p.is_file() and not p.is_symlink() else None,
        )
        for p in [root, *sorted(root.rglob("*"))]
    }


def _knwalk_process(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kn_walk", *args],
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _assert_one_key_pair(state_dir: Path) -> None:
    """server.key belongs to server.crt, and ca.crt signed server.crt (one process made them)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_private_key((state_dir / "server.key").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((state_dir / "server.crt").read_bytes())
    ca = x509.load_pem_x509_certificate((state_dir / "ca.crt").read_bytes())
    raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(*raw) == cert.public_key().public_bytes(*raw)
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey) and cert.signature_hash_algorithm
    ca_key.verify(
        cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
    )


# --------------------------------------------------------------------------- one server per dir


@pytest.mark.parametrize("racers", sizes(4, 12))
def test_concurrent_ups_start_exactly_one_server(tmp_path: Path, racers: int) -> None:
    state = tmp_path / "state"
    env = {"KUBECONFIG": str(tmp_path / "kubeconfig"), "HOME": str(tmp_path)}
    procs = [
        _knwalk_process("sandbox", "up", "--state-dir", str(state), env=env) for _ in range(racers)
    ]
    try:
        results = [p.communicate(timeout=120) for p in procs]
        servers = _servers(state)
        assert len(servers) == 1, (servers, results)
        (pid,) = servers
        for proc, (out, err) in zip(procs, results, strict=True):
            assert proc.returncode == 0, (out, err)
            assert "Traceback" not in out + err and not err.strip(), err
            assert f"pid {pid}" in out, out
        assert sum("Sandbox started" in out for out, _ in results) == 1, results
        _assert_one_key_pair(state)
        info = control.running(state)  # verifies TLS with ca.crt: the served key is the one
        assert info is not None and info.pid == pid
        assert json.loads((state / "sandbox.json").read_text())["pid"] == pid
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        control.stop(state)
        _kill_all(state)


def test_a_second_server_on_a_state_dir_exits_at_once_and_changes_nothing(
    tmp_path: Path,
) -> None:
    sb = start_sandbox(tmp_path)
    try:
        files = ("token", "server.key", "server.crt", "ca.crt", "sandbox.json")
        before = {name: (sb.state_dir / name).read_bytes() for name in files}
        second = subprocess.run(
            [sys.executable, "-m", "kn_walk.sandbox.server", "--state-dir", str(sb.state_dir)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert second.returncode != 0
        assert f"already runs on {sb.state_dir} (pid {sb.info.pid})" in second.stderr
        assert "Traceback" not in second.stderr
        assert {name: (sb.state_dir / name).read_bytes() for name in files} == before
        assert _servers(sb.state_dir) == [sb.info.pid]
        info = control.running(sb.state_dir)
        assert info is not None and info.pid == sb.info.pid
        lock = sb.state_dir / control.LOCK_FILE
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    finally:
        control.stop(sb.state_dir)
        _kill_all(sb.state_dir)


def test_a_server_that_does_not_answer_is_named_not_doubled_and_stopped(tmp_path: Path) -> None:
    sb = start_sandbox(tmp_path)
    pid = sb.info.pid
    state = str(sb.state_dir)
    os.kill(pid, signal.SIGSTOP)
    try:
        status = knwalk("sandbox", "status", "--state-dir", state)
        status.assert_error(1)
        assert f"running, not answering (pid {pid}" in status.error, status.error
        as_json = knwalk("sandbox", "status", "--state-dir", state, "-o", "json")
        assert as_json.code == 1
        doc = json.loads(as_json.out)
        assert doc["running"] is True and doc["answering"] is False and doc["pid"] == pid

        up = knwalk("sandbox", "up", "--state-dir", state, "--kubeconfig", str(tmp_path / "k2"))
        up.assert_error(1)
        assert f"running, not answering (pid {pid}" in up.error, up.error
        assert "knwalk sandbox down" in up.error
        assert _servers(sb.state_dir) == [pid]
        assert not (tmp_path / "k2").exists()

        down = knwalk("sandbox", "down", "--state-dir", state)
        assert down.code == 0, down.err
        assert f"pid {pid}" in down.out and "not answering" in down.out, down.out
        assert not _alive(pid)
        assert _servers(sb.state_dir) == []
        after = knwalk("sandbox", "status", "--state-dir", state)
        after.assert_error(1)
        assert "not running" in after.error
        # and the state dir serves again
        info, started = control.start(sb.state_dir)
        assert started and info.pid != pid
    finally:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        control.stop(sb.state_dir)
        _kill_all(sb.state_dir)


def test_reset_names_and_stops_a_server_that_does_not_answer(tmp_path: Path) -> None:
    sb = start_sandbox(tmp_path)
    pid = sb.info.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        result = knwalk(
            "sandbox", "reset", "--state-dir", str(sb.state_dir), "--kubeconfig",
            str(sb.kubeconfig), "--yes",
        )  # fmt: skip
        assert result.code == 0, result.err
        assert f"(pid {pid}) is running, not answering" in result.out, result.out
        assert not _alive(pid)
        assert not sb.state_dir.exists()
    finally:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        _kill_all(sb.state_dir)


# --------------------------------------------------------------------------- the state dir


def test_reset_deletes_a_state_dir_the_tour_used(tmp_path: Path) -> None:
    from kn_walk import tour

    state = tmp_path / "state"
    kubeconfig = tmp_path / "kubeconfig"
    kube, where = tour.open_sandbox(state, kubeconfig_path=kubeconfig)
    kube.close()
    assert where.sandbox is not None
    try:
        assert (state / control.TOUR_KUBECONFIG).is_file()
        result = knwalk(
            "sandbox", "reset", "--state-dir", str(state), "--kubeconfig", str(kubeconfig), "--yes"
        )
        assert result.code == 0, result.err
        assert not state.exists()
        assert not _alive(where.sandbox.pid)
    finally:
        if state.exists():
            control.stop(state)
        _kill_all(state)


def test_every_entry_a_sandbox_writes_is_known() -> None:
    from kn_walk.sandbox import certs, server

    names = {
        control.TOUR_KUBECONFIG,
        certs.CA_CERT,
        certs.SERVER_CERT,
        certs.SERVER_KEY,
        server.STATE_FILE,
        server.TOKEN_FILE,
        server.DB_FILE,
        server.LOG_FILE,
        control.LOCK_FILE,
        control.STDERR_FILE,
    }
    assert all(control.known_entry(name) for name in names)
    assert all(control.known_entry(f".{name}.12345.tmp") for name in names)
    assert not any(
        control.known_entry(name) for name in ("notes.txt", ".bashrc", ".tmp", "..tmp", "kube")
    )


COMMANDS = [
    ("sandbox", "up"),
    ("sandbox", "status"),
    ("sandbox", "down"),
    ("sandbox", "reset", "--yes"),
    ("tour", "--yes", "-o", "json"),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_an_empty_state_dir_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    """`--state-dir "$UNSET"` once made the current directory the state dir."""
    cwd = tmp_path / "cwd"
    cwd.mkdir(mode=0o755)
    cwd.chmod(0o755)  # an empty directory: only the empty value itself can be refused
    monkeypatch.chdir(cwd)
    before = _snapshot(cwd)
    kubeconfig = str(tmp_path / "kubeconfig")
    try:
        result = knwalk(*command, "--state-dir", "", env={"KUBECONFIG": kubeconfig})
        result.assert_error(2)
        assert "--state-dir" in result.error and "empty" in result.error, result.error
        assert _snapshot(cwd) == before
        assert not Path(kubeconfig).exists()
    finally:
        control.stop(cwd)
        _kill_all(cwd)
        _kill_all(Path("."))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_directory_that_is_not_a_sandbox_is_refused_and_left_alone(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    (home / "notes.txt").write_text("keep me")
    (home / "token").write_text("not a sandbox token\n")
    before = _snapshot(home)
    kubeconfig = str(tmp_path / "kubeconfig")
    try:
        result = knwalk(*command, "--state-dir", str(home), env={"KUBECONFIG": kubeconfig})
        result.assert_error(2)
        assert "--state-dir" in result.error and "notes.txt" in result.error, result.error
        assert "does not look like a sandbox state dir" in result.error
        assert _snapshot(home) == before
        assert not Path(kubeconfig).exists()
    finally:
        _kill_all(home)


def test_a_file_as_state_dir_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    for command in COMMANDS:
        result = knwalk(*command, "--state-dir", str(path))
        result.assert_error(2)
        assert "--state-dir" in result.error and "not a directory" in result.error
    assert path.read_text() == "x"


# --------------------------------------------------------------------------- --faults


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    yield path


#: a YAML alias bomb: 9 aliases a level, 9 levels
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize(
    "what", ["device", "fifo", "directory", "huge", "alias bomb", "bad rule", "missing"]
)
def test_faults_must_be_a_small_file_of_rules(tmp_path: Path, fifo: Path, what: str) -> None:
    """Read with kn_walk.safeload's bounds: the message names what the path is."""
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as f:
        f.truncate(5 * 1024 * 1024)
    bad = tmp_path / "bad.yaml"
    bad.write_text("- status: teapot\n")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)
    path, reason = {
        "device": (Path("/dev/zero"), "the file is a character device, not a regular file"),
        "fifo": (fifo, "the file is a pipe, not a regular file"),
        "directory": (tmp_path, "the file is a directory, not a regular file"),
        "huge": (huge, "the file is larger than 4 MiB"),
        "alias bomb": (bomb, "the file: the YAML document contains excessive aliasing"),
        "bad rule": (bad, "fault rule 0: status must be"),
        "missing": (tmp_path / "nope.yaml", "no such file"),
    }[what]
    state = tmp_path / "state"
    result = knwalk("sandbox", "up", "--state-dir", str(state), "--faults", str(path))
    result.assert_error(2)
    assert f"--faults {path}: {reason}" in result.error, result.error
    assert not state.exists()


@pytest.mark.parametrize("what", ["fifo", "huge"])
def test_the_server_bounds_what_it_reads_for_faults(tmp_path: Path, fifo: Path, what: str) -> None:
    """Started directly, the server does not block on a FIFO nor read a huge file."""
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as f:
        f.truncate(5 * 1024 * 1024)
    path = fifo if what == "fifo" else huge
    state = tmp_path / "state"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "kn_walk.sandbox.server",
            "--state-dir",
            str(state),
            "--faults",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    reason = "is a pipe, not a regular file" if what == "fifo" else "is larger than 4 MiB"
    assert f"--faults {path}: the file {reason}" in proc.stderr
    assert not state.exists()


# --------------------------------------------------------------------------- scale from zero


def test_revisions_at_zero_stay_at_zero_across_a_restart(tmp_path: Path) -> None:
    sb = start_sandbox(tmp_path, stable_window=0.5, scale_to_zero_grace=0.5)
    try:
        apply_service(sb, "default", "sleepy")
        wait_pods(sb, "default", "sleepy", running)
        wait_pods(sb, "default", "sleepy", lambda items: not items)  # scaled to zero
        assert _children(sb.info.pid) == []
        control.stop(sb.state_dir)
        # long windows now: a Revision started at boot would still run at the end of the test
        info, started = control.start(sb.state_dir, stable_window=60, scale_to_zero_grace=30)
        assert started
        control.write_kubeconfig(info, sb.kubeconfig)
        # a new Service's Pod running means the boot-time sync (which started every
        # Revision before) is long done
        apply_service(sb, "default", "fresh", target="fresh")
        wait_pods(sb, "default", "fresh", running)
        assert pods_of(sb, "default", "sleepy") == []
        assert len(_children(info.pid)) == 1  # fresh's
        host = "sleepy.default.example.com"
        response = httpx.get(info.gateway + "/", headers={"Host": host}, timeout=30)
        assert response.status_code == 200 and response.text == "Hello v1!\n"
        wait_pods(sb, "default", "sleepy", running)
        assert len(_children(info.pid)) == 2
    finally:
        control.stop(sb.state_dir)
        _kill_all(sb.state_dir)


def test_up_on_a_running_sandbox_makes_the_context_current_where_asked(tmp_path: Path) -> None:
    import yaml

    sb = start_sandbox(tmp_path)
    try:
        other = tmp_path / "other" / "config"
        before = sb.kubeconfig.read_bytes()
        result = knwalk(
            "sandbox", "up", "--state-dir", str(sb.state_dir), "--kubeconfig", str(other),
            "--api-port", str(sb.info.api_port), "--domain", "other.test",
        )  # fmt: skip
        assert result.code == 0, result.err
        # rich wraps at 80 columns, inside long paths too: compare without whitespace
        said = "".join(result.out.split())

        def says(text: str) -> bool:
            return "".join(text.split()) in said

        assert says(f"already running (pid {sb.info.pid})"), result.out
        assert says(f"context {control.CONTEXT} is now current in {other}"), result.out
        # the same port is no change; another domain is, and is said not to be applied
        assert says("Not applied to the running sandbox: --domain."), result.out
        assert "--api-port" not in said
        config = yaml.safe_load(other.read_text())
        assert config["current-context"] == control.CONTEXT
        (cluster,) = config["clusters"]
        assert cluster["cluster"]["server"] == sb.info.api
        assert stat.S_IMODE(other.stat().st_mode) == 0o600
        assert sb.kubeconfig.read_bytes() == before  # the other kubeconfig is left alone
        assert control.running(sb.state_dir) is not None
        assert control.running(sb.state_dir).pid == sb.info.pid  # type: ignore[union-attr]
    finally:
        control.stop(sb.state_dir)
        _kill_all(sb.state_dir)
