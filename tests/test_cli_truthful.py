"""The CLI says what is true (issue 17): real outcomes, bounded reads, bounded time, plain errors.

Against the real sandbox, real files and real processes: ``knwalk`` runs
in-process (``Cluster.run``) or, where the old behaviour was to fill memory or
hang, as a child process with a memory limit and a timeout that only guards
against a hang.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kn_walk import safeload, yamlbounds
from kn_walk.errors import KnwalkError, UsageError
from tests.conftest import Sandbox
from tests.test_cli_support import Cluster, knwalk
from tests.test_reliability_support import Faults

BAD_IMAGE = "example.com/not-a-sample"
GOOD_IMAGE = "gcr.io/knative-samples/helloworld-go"
#: extra seconds a bounded command may take past its timeout before the test calls it a hang
HANG_GUARD = 10.0


def _memory_limit() -> None:  # pragma: no cover - runs in the child
    limit = 1536 * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def child(
    *args: str,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    timeout: float = 60,
    cwd: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``knwalk ARGS`` as a child process (1.5 GiB address space, ``timeout`` as a hang guard)."""
    environ = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "kn_walk", *args],
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout,
        preexec_fn=_memory_limit,
        check=False,
        cwd=cwd,
    )


def one_error(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """The Error: line of a clean failure (exit ``code``, Error:/Hint:, nothing else)."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("Error: "), proc.stderr
    assert all(line.startswith(("Error: ", "Hint: ")) for line in lines), proc.stderr
    assert "unexpected" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


# --------------------------------------------------------------------------- 1, 2: deploy's outcome


def test_an_unchanged_deploy_of_a_failed_service_reports_the_failure(cluster: Cluster) -> None:
    first = cluster.run("deploy", "--image", BAD_IMAGE)
    first.assert_error(1)
    again = cluster.run("deploy", "--image", BAD_IMAGE)
    again.assert_error(1)
    assert "service 'helloworld-go' failed: Ready=False (RevisionFailed)" in again.error
    assert "is available at URL" not in again.out
    assert again.lines[0].startswith("No new revision:")
    # --no-wait: the state as it is, never "available"
    quick = cluster.run("deploy", "--image", BAD_IMAGE, "--no-wait")
    assert quick.code == 0, quick.err
    assert "is not ready: Ready=False (RevisionFailed)" in " ".join(quick.out.split())
    assert "is available at URL" not in quick.out


def test_an_unchanged_deploy_of_a_ready_service_still_says_where_it_is(cluster: Cluster) -> None:
    cluster.deploy()
    again = cluster.deploy()
    assert again.lines[0].startswith("No new revision:")
    assert again.lines[-2] == "Service 'helloworld-go' is available at URL:"
    assert len(again.lines) == 3  # nothing rolled out: no progress lines


def test_fixing_a_failed_service_waits_out_knatives_transient_failure(cluster: Cluster) -> None:
    """The fix goes through Ready=False (RevisionMissing) before Ready=True: not a failure."""
    cluster.run("deploy", "--image", BAD_IMAGE).assert_error(1)
    fixed = cluster.run("deploy", "--image", GOOD_IMAGE)
    assert fixed.code == 0, (fixed.out, fixed.err)
    assert fixed.lines[-2].endswith("is available at URL:"), fixed.out
    ready = [c for c in cluster.ksvc()["status"]["conditions"] if c["type"] == "Ready"]
    assert ready[0]["status"] == "True"


def test_wait_window_is_an_option_with_kns_meaning(cluster: Cluster) -> None:
    result = cluster.run("deploy", "--wait-window", "-1")
    result.assert_error(2)
    assert "--wait-window" in result.error
    failed = cluster.run("deploy", "--image", BAD_IMAGE, "--wait-window", "0.2")
    failed.assert_error(1)
    assert "Ready=False (RevisionFailed)" in failed.error


# --------------------------------------------------------------------------- 3: bounded reads


def _bomb(levels: int = 9) -> str:
    lines = [
        "apiVersion: serving.knative.dev/v1",
        "kind: Service",
        "metadata: {name: bomb}",
        'a0: &a0 ["x","x","x","x","x","x","x","x","x"]',
    ]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    lines.append(
        f"spec: {{template: {{spec: {{containers: [{{image: x, args: *a{levels - 1}}}]}}}}}}"
    )
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(
    cluster: Cluster, tmp_path: Path
) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    assert path.stat().st_size < 1024
    args = ("deploy", "--kubeconfig", str(cluster.kubeconfig), "-n", cluster.namespace)
    line = one_error(child(*args, "-f", str(path)), 2)
    assert f"-f {path}" in line and "excessive aliasing" in line
    line = one_error(child(*args, "-f", "-", stdin=path.read_bytes()), 2)
    assert "-f -" in line and "excessive aliasing" in line
    assert cluster.get("services", "bomb") is None


def test_files_that_are_not_regular_or_too_large_are_refused(
    cluster: Cluster, tmp_path: Path
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * (safeload.MAX_BYTES // 10 + 1))
    args = ("deploy", "--kubeconfig", str(cluster.kubeconfig), "-n", cluster.namespace)
    for path, why in (
        ("/dev/zero", "is a character device, not a regular file"),
        (str(fifo), "is a pipe, not a regular file"),
        (str(tmp_path), "is a directory, not a regular file"),
        (str(big), "is larger than 4 MiB"),
    ):
        line = one_error(child(*args, "-f", path), 2)
        assert f"-f {path} {why}" in line, line
    line = one_error(child(*args, "-f", "-", stdin=b"#" * (safeload.MAX_BYTES + 1)), 2)
    assert "-f -: stdin holds more than 4 MiB" in line


def test_a_kubeconfig_that_is_a_device_is_refused_naming_where_it_came_from(
    tmp_path: Path,
) -> None:
    line = one_error(child("status", "--kubeconfig", "/dev/zero"), 2)
    assert "--kubeconfig /dev/zero is a character device, not a regular file" in line
    env = {"KUBECONFIG": "/dev/zero", "HOME": str(tmp_path)}
    line = one_error(child("status", env=env), 1)
    assert "$KUBECONFIG /dev/zero is a character device" in line
    bomb = tmp_path / "config"
    bomb.write_text(_bomb().replace("kind: Service", "kind: Config"))
    line = one_error(child("status", "--kubeconfig", str(bomb)), 2)
    assert "excessive aliasing" in line


def test_files_the_kubeconfig_names_are_checked_before_the_library_reads_them(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["users"][0]["user"] = {"tokenFile": "/dev/zero"}
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    line = one_error(child("status", "--kubeconfig", str(path)), 1)
    assert "tokenFile /dev/zero" in line and "not a regular file" in line


def test_aliases_within_bounds_and_recursive_ones() -> None:
    ok = "base: &b {image: x, env: [{name: A, value: '1'}]}\none: *b\ntwo: *b\n"
    docs = safeload.load_all(ok, label="t", hint="h")
    assert docs == [yaml.safe_load(ok)]
    assert safeload.expansion(yaml.compose(ok)) == (14, 34)
    with pytest.raises(KnwalkError, match="an alias refers to a value that contains it"):
        safeload.load_all("a: &a [1, *a]\n", label="t", hint="h")
    with pytest.raises(UsageError, match="nested too deeply"):
        safeload.load_all("[" * 5000 + "]" * 5000, label="t", hint="h", usage=True)
    with pytest.raises(KnwalkError, match=r"t is not valid YAML \(line 2, column 1\)"):
        safeload.load_all("a: [1\n", label="t", hint="h")
    # go-yaml's scale: 99% from aliases is fine for a small document, not for a large one
    assert yamlbounds.allowed_alias_ratio(1_000) == 0.99
    assert yamlbounds.allowed_alias_ratio(10_000_000) == 0.10


# --------------------------------------------------------------------------- 4: curl's options


@pytest.mark.parametrize(
    ("path", "char"),
    [("/\r\nX-Evil: 1", "'\\r'"), ("/a\tb", "'\\t'"), ("/a\x7f", "'\\x7f'"), ("/\x00", "'\\x00'")],
    ids=["crlf", "tab", "del", "nul"],
)
def test_curl_refuses_control_characters_in_the_path(path: str, char: str) -> None:
    gateway = ("--gateway", "http://127.0.0.1:9", "--host", "hello.default.example.com")
    result = knwalk("curl", *gateway, "--path", path)
    result.assert_error(2)
    assert "--path" in result.error and f"control character {char}" in result.error
    bad_host = knwalk("curl", "--gateway", "http://127.0.0.1:9", "--host", "a\r\nX-Evil: 1")
    bad_host.assert_error(2)
    assert "--host" in bad_host.error


# --------------------------------------------------------------------------- 5: exec plugins


def _exec_kubeconfig(sandbox: Sandbox, tmp_path: Path, command: str) -> Path:
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": command,
            "interactiveMode": "Never",
        }
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    return path


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\n{body}\n")
    path.chmod(0o700)
    return str(path)


@pytest.mark.parametrize("case", ["missing", "garbage", "no credential", "fails"])
def test_credential_plugin_failures_are_said_as_kubectl_says_them(
    sandbox: Sandbox, tmp_path: Path, case: str
) -> None:
    command = {
        "missing": str(tmp_path / "no-such-plugin"),
        "garbage": _script(tmp_path, "garbage", "print('<html>not json</html>')"),
        "no credential": _script(
            tmp_path,
            "empty",
            "import json; print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1',"
            " 'kind': 'ExecCredential', 'status': {}}))",
        ),
        "fails": _script(tmp_path, "fails", "import sys; sys.exit('token expired')"),
    }[case]
    proc = child("status", "--kubeconfig", str(_exec_kubeconfig(sandbox, tmp_path, command)))
    line = one_error(proc, 1)
    assert "ERROR:" not in proc.stderr and "Unauthorized" not in proc.stderr
    assert "the credential plugin of context 'knwalk-sandbox'" in line
    assert command in line
    expected = {
        "missing": "could not be run",
        "garbage": "did not print an ExecCredential",
        "no credential": "printed an ExecCredential without credentials",
        "fails": "exited with code 1: token expired",
    }[case]
    assert expected in line, line


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie of the init process is gone too, as far as anyone can tell
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def test_a_credential_plugin_that_never_exits_ends_at_the_commands_timeout(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The library would wait for it for ever: knwalk stops it, and what it started."""
    pids = tmp_path / "pids"
    command = _script(
        tmp_path,
        "hangs",
        "import os, subprocess, time\n"
        "helper = subprocess.Popen(['sleep', '3600'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{helper.pid}}')\n"
        "time.sleep(3600)",
    )
    config = _exec_kubeconfig(sandbox, tmp_path, command)
    started = time.monotonic()
    try:
        proc = child(
            "status", "--kubeconfig", str(config), "--timeout", "3", timeout=3 + HANG_GUARD
        )
        took = time.monotonic() - started
        line = one_error(proc, 1)
        assert command in line and "did not finish within the 3s of --timeout" in line, line
        assert "stopped" in line and took < 3 + HANG_GUARD
        assert "--timeout" in proc.stderr.splitlines()[-1]  # the hint: allow more time
        # the plugin and the process it started are gone
        deadline = time.monotonic() + 10
        while not all(_gone(int(pid)) for pid in pids.read_text().split()):
            assert time.monotonic() < deadline, "the plugin or its child outlived knwalk"
            time.sleep(0.05)
    finally:
        for pid in pids.read_text().split() if pids.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), 9)


def test_a_credential_plugin_that_prints_without_end_is_stopped(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    command = _script(
        tmp_path,
        "floods",
        "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)",
    )
    config = _exec_kubeconfig(sandbox, tmp_path, command)
    line = one_error(child("status", "--kubeconfig", str(config), "--timeout", "30"), 1)
    assert command in line and "printed more than 1024 KiB" in line, line


def test_a_credential_plugins_token_is_used_and_a_relative_command_found_beside_the_config(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """What knwalk runs itself still works as kubectl's plugins do: env, exec info, cwd."""
    token = yaml.safe_load(sandbox.kubeconfig.read_text())["users"][0]["user"]["token"]
    seen = tmp_path / "seen"
    _script(
        tmp_path,
        "good",
        "import json, os\n"
        f"open({str(seen)!r}, 'w').write(json.dumps([os.environ['KUBERNETES_EXEC_INFO'],"
        " os.environ.get('EXTRA')]))\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', 'kind': "
        f"'ExecCredential', 'status': {{'token': {token!r}}}}}))",
    )
    config = _exec_kubeconfig(sandbox, tmp_path, "./good")
    data = yaml.safe_load(config.read_text())
    data["users"][0]["user"]["exec"]["env"] = [{"name": "EXTRA", "value": "given"}]
    config.write_text(yaml.safe_dump(data))
    proc = child("status", "--kubeconfig", str(config), "--timeout", "30", cwd="/")
    # the API took the plugin's token and answered the list
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert "Knative Services in namespace" in proc.stdout
    info, extra = json.loads(seen.read_text())
    assert json.loads(info) == {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "spec": {"interactive": False},
    }
    assert extra == "given"


# --------------------------------------------------------------------------- 6: bounded time


@pytest.fixture
def silent_api(tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig whose API server accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    path = tmp_path / "silent"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "silent",
                "clusters": [{"name": "silent", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "silent", "user": {"token": "t"}}],
                "contexts": [
                    {"name": "silent", "context": {"cluster": "silent", "user": "silent"}}
                ],
            }
        )
    )
    try:
        yield path
    finally:
        stop.set()
        thread.join()
        server.close()
        for conn in held:
            conn.close()


@pytest.mark.parametrize(
    "args",
    [
        ["split", "50/50", "--wait-timeout", "3"],
        ["deploy", "--wait-timeout", "3"],
        ["delete", "--yes", "--wait-timeout", "3"],
        ["status", "--timeout", "3"],
        ["curl", "--timeout", "3"],
    ],
    ids=lambda a: a[0],
)
def test_every_timeout_bounds_the_whole_command(silent_api: Path, args: list[str]) -> None:
    option = args[-2]
    started = time.monotonic()
    proc = child(*args, "--kubeconfig", str(silent_api), timeout=3 + HANG_GUARD)
    took = time.monotonic() - started
    line = one_error(proc, 1)
    assert f"did not answer get services within the 3s of {option}" in line or (
        f"did not answer list services within the 3s of {option}" in line
    ), line
    assert took < 3 + HANG_GUARD


def test_a_split_whose_reads_hang_ends_at_its_timeout(cluster: Cluster, sandbox: Sandbox) -> None:
    """The sandbox's fault switch: every read of the Service takes a minute to answer."""
    cluster.deploy()
    faults = Faults(sandbox)
    try:
        path = f"/apis/serving.knative.dev/v1/namespaces/{cluster.namespace}/services/.*"
        faults.set({"method": "GET", "path": path, "delay": 60})
        result = cluster.run("split", "@latest", "--wait-timeout", "3")
    finally:
        faults.close()
    result.assert_error(1)
    assert "did not answer get services within the 3s of --wait-timeout" in result.error


# --------------------------------------------------------------------------- 7: racing splits


def test_a_split_superseded_meanwhile_says_so_at_once(split_app: Cluster, sandbox: Sandbox) -> None:
    """Another split lands after ours and before our wait reads: reported, not waited for."""
    from kn_walk.kube import connect

    cluster = split_app
    ns = cluster.namespace
    before = cluster.ksvc()["metadata"]["generation"]
    listed = threading.Event()
    meddled: list[str] = []
    other = [
        {"revisionName": "helloworld-go-00001", "percent": 70},
        {"revisionName": "helloworld-go-00002", "percent": 30},
    ]

    def meddle() -> None:
        # once our split is in place (a new generation), put another one on top of it
        with connect(cluster.kubeconfig, "knwalk-sandbox", ns) as kube:
            kube.wait_for(
                "serving.knative.dev",
                "v1",
                "services",
                "helloworld-go",
                lambda obj: bool(obj and obj["metadata"]["generation"] > before),
                timeout=30,
                on_change=lambda obj: listed.set(),
            )
            kube.merge_patch(
                "serving.knative.dev",
                "v1",
                "services",
                "helloworld-go",
                {"spec": {"traffic": other}},
            )
            meddled.append("done")

    thread = threading.Thread(target=meddle)
    thread.start()
    faults = Faults(sandbox)
    try:
        assert listed.wait(10)
        # our wait's first read (the list it watches from: the Service's, or the Route's)
        # comes 1 s late: time for the other split to land
        collections = f"/apis/serving.knative.dev/v1/namespaces/{ns}/(services|routes)"
        faults.set({"method": "GET", "path": collections, "watch": False, "delay": 1, "times": 1})
        started = time.monotonic()
        result = cluster.run("split", "@latest", "--wait-timeout", "20")
        took = time.monotonic() - started
    finally:
        faults.close()
        thread.join(30)
    assert meddled == ["done"]
    result.assert_error(1)
    assert "changed meanwhile by someone else" in result.error
    assert "helloworld-go-00001 70%" in result.error and "helloworld-go-00002 30%" in result.error
    assert took < 20  # at once, not at the end of --wait-timeout
    spec = cluster.ksvc()["spec"]["traffic"]
    assert [t.get("percent") for t in spec] == [70, 30]
