"""Hostile input to knwalk's own parsers: every command line, the cluster options, files.

Whatever the arguments, ``knwalk`` ends with exit 0, 1 or 2 and, when it fails,
with its one-line ``Error:`` (never a traceback, never "unexpected"). The
commands run for real — against the session sandbox (a throwaway namespace),
the fake GKE server, and a private state dir — with every path confined to a
temporary directory and the network limited to loopback (proxies pointing at a
closed port catch anything else).
"""

from __future__ import annotations

import json
import os
import string
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kn_walk import gke, knative, kubeconfig
from kn_walk.errors import KnwalkError
from kn_walk.sandbox import control
from tests.conftest import Sandbox
from tests.fake_gke import FakeGke
from tests.test_cli_support import Result, knwalk
from tests.test_reliability_support import SOAK

EXAMPLES = 800 if SOAK else 40
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=not SOAK,
)
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused


def _commands() -> list[tuple[tuple[str, ...], list[Any]]]:
    """(command path, its parameters) of every knwalk command."""
    from kn_walk.cli.app import app

    found: list[tuple[tuple[str, ...], list[Any]]] = []

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, (*path, name))
        else:
            found.append((path, list(cmd.params)))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()
GOOD = [
    "helloworld-go", "50/50", "100", "@latest", "@latest=100", "helloworld-go-00001=50",
    "gcr.io/knative-samples/helloworld-go", "TARGET=x", "json", "yaml", "table", "text",
    "us-central1-c", "my-project", "knwalk", "1", "0", "-1", "1e9", "nan", "inf", "",
    "blue", "current", "istio", "kourier", "e2-standard-4", "1.33", "--", "-", "-o",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(GOOD),
    st.integers(-3, 40).map(str),
    st.floats(allow_nan=True).map(str),
    st.text(max_size=24),
    st.text(alphabet=string.ascii_lowercase + "-=/@,.0123456789", max_size=24),
)


def _safe(value: str) -> str:
    """Keep every path inside the test's directory: no absolute, home or parent paths."""
    value = value.replace("..", "__").replace("~", "_").replace("\x00", "")
    return "_" + value if value.startswith("/") else value


@st.composite
def argv(draw: st.DrawFn) -> list[str]:
    path, params = draw(st.sampled_from(COMMANDS))
    options = [p for p in params if p.param_type_name == "option"]
    args: list[str] = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["option", "option", "positional", "garbage"]))
        if kind == "option" and options:
            opt = draw(st.sampled_from(options))
            args.append(draw(st.sampled_from(opt.opts)))
            if not opt.is_flag:
                args.append(_safe(draw(VALUES)))
        elif kind == "positional":
            args.append(_safe(draw(VALUES)))
        else:
            args.append(draw(st.sampled_from(["--nope", "-Z", "--help=x", "---", "-oo"])))
    return [*path, *args, *_bounded(path, params)]


def _bounded(path: tuple[str, ...], params: list[Any]) -> list[str]:
    """Options that keep a run short: nothing waits long or polls slowly; the tour and the
    installer stop at their context (their parsers run; the walkthrough and downloads do not)."""
    names = {n for p in params if p.param_type_name == "option" for n in p.opts}
    extra: list[str] = []
    if "--wait-timeout" in names:
        extra += ["--wait-timeout", "5"]
    if "--poll-interval" in names:
        extra += ["--poll-interval", "0"]
    if "--timeout" in names and path == ("curl",):
        extra += ["--timeout", "5"]
    if path[0] in ("tour", "install", "uninstall", "doctor") and "--context" in names:
        extra += ["--context", "fuzz-missing-context"]
    return extra


@pytest.fixture(scope="module")
def world(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment every fuzzed knwalk runs in."""
    root = tmp_path_factory.mktemp("fuzz")
    namespace = "fuzz-" + uuid.uuid4().hex[:6]
    assert (
        knwalk("deploy", "--kubeconfig", str(sandbox.kubeconfig), "-n", "default", "--dry-run").code
        == 0
    )
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    client.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
    api.close()
    doc = yaml.safe_load(sandbox.kubeconfig.read_text())
    doc["contexts"][0]["context"]["namespace"] = namespace
    (root / "kubeconfig").write_text(yaml.safe_dump(doc))
    with FakeGke() as fake:
        fake.add_cluster("my-project", "us-central1-c", "knwalk")
        env: dict[str, str | None] = {
            "HOME": str(root),
            "XDG_STATE_HOME": str(root / "state"),
            "XDG_CACHE_HOME": str(root / "cache"),
            "XDG_CONFIG_HOME": str(root / "config"),
            "KUBECONFIG": str(root / "kubeconfig"),
            "KNWALK_GKE_ENDPOINT": fake.url,
            "CLOUDSDK_CONFIG": str(root / "gcloud"),
            "GOOGLE_APPLICATION_CREDENTIALS": str(root / "no-adc.json"),
            "CLOUDSDK_CORE_PROJECT": None,
            "GOOGLE_CLOUD_PROJECT": None,
            "HTTPS_PROXY": CLOSED,
            "HTTP_PROXY": CLOSED,
            "ALL_PROXY": CLOSED,
            "https_proxy": CLOSED,
            "http_proxy": CLOSED,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "GCE_METADATA_HOST": "127.0.0.1:9",
            "GCE_METADATA_IP": "127.0.0.1:9",
        }
        cwd = os.getcwd()
        os.chdir(root)
        try:
            yield {"root": str(root), **{k: v for k, v in env.items() if v is not None}}  # type: ignore[misc]
        finally:
            os.chdir(cwd)
            # stop every sandbox a fuzzed `sandbox up` (or tour) started
            for state in root.rglob(control.STATE_FILE):
                control.stop(state.parent)


def _env(world: dict[str, str]) -> dict[str, str | None]:
    env: dict[str, str | None] = {k: v for k, v in world.items() if k != "root"}
    env.update({"CLOUDSDK_CORE_PROJECT": None, "GOOGLE_CLOUD_PROJECT": None})
    return env


def _check(args: list[str], result: Result) -> None:
    assert result.code in (0, 1, 2), (args, result)
    assert "Traceback" not in result.err and "Traceback" not in result.out, (args, result.err)
    if result.code == 1 and args[0] == "doctor" and not result.err:
        return  # doctor reports failed checks on stdout, as its output
    if result.code:
        lines = [line for line in result.err.splitlines() if line.strip()]
        assert lines and lines[0].startswith("Error: "), (args, result.err)
        assert not lines[0].startswith("Error: unexpected"), (args, result.err)


@SETTINGS
@given(args=argv())
def test_any_command_line_ends_cleanly(world: dict[str, str], args: list[str]) -> None:
    _check(args, knwalk(*args, env=_env(world)))


@pytest.mark.parametrize(("path", "params"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_with_a_bad_value(
    world: dict[str, str], path: tuple[str, ...], params: list[Any]
) -> None:
    """Each option of each command, given values no one should type: a clean ending each time."""
    values = ["", "-1", "nan", "x" * 300, "ÿ\u202e\t"]
    if SOAK:
        values += ["1e999", "a=b=c", "0x10", "\t", "-", "--", "0", "99999999999999999999"]
    for p in params:
        if p.param_type_name != "option" or p.is_flag or p.opts[0] in ("--help",):
            continue
        for value in values:
            args = [*path, p.opts[0], _safe(value) or "x", *_bounded(path, params)]
            _check(args, knwalk(*args, env=_env(world)))


# --------------------------------------------------------------------------- parsers in the core


CLUSTER_FIELDS = [f for f in gke.ClusterOptions.__dataclass_fields__]


@SETTINGS
@given(data=st.data())
def test_cluster_options_give_a_spec_or_a_usage_error(data: st.DataObject) -> None:
    values: dict[str, Any] = {}
    for name in data.draw(st.lists(st.sampled_from(CLUSTER_FIELDS), max_size=6, unique=True)):
        kind = gke.ClusterOptions.__dataclass_fields__[name].type
        if "int" in str(kind):
            values[name] = data.draw(st.integers(-(2**40), 2**40))
        elif "bool" in str(kind):
            values[name] = data.draw(st.booleans())
        else:
            values[name] = data.draw(st.one_of(st.text(max_size=40), st.sampled_from(GOOD)))
    try:
        spec = gke.build_spec(
            gke.ClusterOptions(**values),
            project="my-project",
            location="us-central1-c",
            regional=False,
        )
    except KnwalkError as exc:
        assert exc.message and "\n" not in exc.message
        return
    gke.create_request(spec)  # and the request can be built


@SETTINGS
@given(
    text=st.one_of(
        st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
    )
)
def test_kubeconfig_files_with_any_content(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("kc") / "config"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        config = kubeconfig.load(path)
        kubeconfig.current_context(path)
        kubeconfig.context_namespace(path)
    except KnwalkError as exc:
        assert exc.message
        return
    assert isinstance(config, dict)


@SETTINGS
@given(
    text=st.one_of(
        st.text(max_size=300),
        st.builds(
            lambda d: json.dumps(d), st.dictionaries(st.text(max_size=8), st.text(max_size=8))
        ),
    )
)
def test_manifest_files_with_any_content(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("m") / "ksvc.yaml"
    path.write_text(text)
    try:
        knative.read_manifest(path)
    except KnwalkError as exc:
        assert exc.message


@SETTINGS
@given(
    items=st.lists(st.text(max_size=30), max_size=4),
    unset=st.lists(st.text(max_size=10), max_size=2),
)
def test_env_image_and_name_parsers(items: list[str], unset: list[str]) -> None:
    for call in (
        lambda: knative.parse_env(items, unset),
        lambda: [knative.parse_image(i) for i in items],
        lambda: [knative.check_service_name(i) for i in items],
        lambda: [knative.parse_revision_name("svc", i) for i in items],
    ):
        try:
            call()
        except KnwalkError as exc:
            assert exc.message


# --------------------------------------------------------------------------- found by the fuzzing


def test_sandbox_reset_refuses_a_directory_that_is_not_a_sandbox(tmp_path: Path) -> None:
    """`sandbox reset --state-dir ~ --yes` would have deleted the home directory."""
    precious = tmp_path / "home"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    (precious / "token").write_text("not a sandbox token\n")
    result = knwalk("sandbox", "reset", "--state-dir", str(precious), "--yes")
    result.assert_error(2)
    assert "does not look like a sandbox state dir" in result.error
    assert (precious / "thesis.tex").read_text() == "years of work"
