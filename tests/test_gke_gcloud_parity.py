"""knwalk against the real Google Cloud SDK 528: the same cluster, the same kubeconfig.

``scripts/record_gcloud.py`` ran gcloud for every flag set a user would type and for
every kind of cluster get-credentials meets, against ``tests/fake_gke.py``, and committed
what gcloud sent and wrote to ``tests/fixtures/gcloud/``. Here:

* knwalk, given a flag set, sends the CreateClusterRequest gcloud sent for the same
  flags as typed (in proto3-JSON normal form; the encoding-only differences are listed
  once, in ``tests/gcloud_env.ENCODING_ONLY``);
* the "equivalent gcloud command" knwalk's ``--dry-run`` prints is the recorded printed
  command line, which made gcloud send that same request, so it creates the identical
  cluster; and, when gcloud is installed, every printed command is run through it again;
* get-credentials writes, field by field, the kubeconfig gcloud wrote (IP, DNS-only,
  ``--dns-endpoint``, private ``--internal-ip``, application default credentials, the
  plugin found only in the SDK's bin/), empties the plugin's token cache as gcloud does,
  and refuses what gcloud refuses.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import gcloud_env
from tests.fake_gke import FakeGke
from tests.test_cli_support import Output, run_main

CREATE = gcloud_env.load("create.json")
CREDENTIALS = gcloud_env.load("get_credentials.json")
P = CREATE["project"]
Z = "us-central1-a"
PLUGIN = "gke-gcloud-auth-plugin"
CACHE = "gke_gcloud_auth_plugin_cache"


def knwalk(*args: str) -> Output:
    return Output(*run_main(*args))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated gcloud configuration, kubeconfig, PATH entry for the plugin, no ADC."""
    for var in list(os.environ):
        if var.startswith(("CLOUDSDK_", "KNWALK_")) or var in (
            "GOOGLE_CLOUD_PROJECT",
            "GCLOUD_PROJECT",
        ):
            monkeypatch.delenv(var)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kube" / "config"))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-adc.json"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


@pytest.fixture
def fake(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGke]:
    with FakeGke() as server:
        monkeypatch.setenv("KNWALK_GKE_ENDPOINT", server.url)
        yield server


def _parent(path: str) -> str:
    """``projects/P/locations/L`` from ``/v1/projects/P/locations/L/clusters``."""
    return path.removeprefix("/v1/").removesuffix("/clusters")


def _printed_command(args: list[str]) -> list[str]:
    result = knwalk("cluster", "create", *args, "--project", P, "--dry-run")
    assert result.code == 0, result.err
    command = result.out.split("# equivalent gcloud command\n", 1)[1].strip()
    argv = shlex.split(command)
    assert argv[0] == "gcloud"
    return argv[1:]


def _flag_set(argv: list[str]) -> list[tuple[str, str | None]]:
    """A command line as (flag, value) pairs in any order; positionals keep their place."""
    pairs: list[tuple[str, str | None]] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token.startswith("--") and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            pairs.append((token, argv[i + 1]))
            i += 2
        elif token.startswith("--"):
            pairs.append((token, None))
            i += 1
        else:
            pairs.append((f"#{i}", token))
            i += 1
    return sorted(pairs, key=lambda p: (p[0], p[1] or ""))


# --------------------------------------------------------------------------- create


#: flag sets gcloud 528 refuses as typed: the seed walkthrough names the removed Istio
#: add-on, which knwalk drops with a note (its printed command leaves it out)
REFUSED_AS_TYPED = {"seed-walkthrough": "received: Istio"}


@pytest.mark.parametrize("case", sorted(CREATE["cases"]))
def test_knwalk_sends_the_request_gcloud_sent(case: str, fake: FakeGke) -> None:
    """The request gcloud sent for the same flags as typed (for a flag set gcloud refuses,
    the one its printed command sent)."""
    recorded = CREATE["cases"][case]
    result = knwalk("cluster", "create", *recorded["knwalk"], "--project", P, "--yes", "--no-wait")
    assert result.code == 0, result.err
    [post] = fake.calls("POST")
    assert post.path == recorded["path"]
    parent = _parent(post.path)
    ours = gcloud_env.normal_form(post.body, parent=parent)
    theirs = gcloud_env.normal_form(
        recorded["printed_request"] if case in REFUSED_AS_TYPED else recorded["request"],
        parent=parent,
    )
    assert ours == theirs


@pytest.mark.parametrize("case", sorted(CREATE["cases"]))
def test_the_printed_gcloud_command_is_the_recorded_one(case: str, home: Path) -> None:
    recorded = CREATE["cases"][case]
    assert _flag_set(_printed_command(recorded["knwalk"])) == _flag_set(recorded["printed"])


@pytest.mark.parametrize("case", sorted(set(CREATE["cases"]) - set(REFUSED_AS_TYPED)))
def test_the_recorded_printed_command_made_gcloud_send_the_typed_request(case: str) -> None:
    """Offline half of the live test below: the printed command (with every default
    written out and values in gcloud's spelling) created what the typed flags did."""
    recorded = CREATE["cases"][case]
    parent = _parent(recorded["path"])
    assert gcloud_env.normal_form(recorded["printed_request"], parent=parent) == (
        gcloud_env.normal_form(recorded["request"], parent=parent)
    )


def test_every_recording_is_gclouds_answer_to_its_command_line() -> None:
    """The recordings are what they say: gcloud 528, one per flag set, the user's flags
    passed to gcloud as typed, every printed command sent."""
    assert CREATE["sdk"] == CREDENTIALS["sdk"] == "528.0.0"
    head = ["container", "clusters", "create"]
    for case, recorded in CREATE["cases"].items():
        assert recorded["gcloud"][:3] == recorded["printed"][:3] == head, case
        flags = recorded["knwalk"][1:] if recorded["knwalk"][0][0] != "-" else recorded["knwalk"]
        flags = flags[2:]  # after --zone/--region LOCATION: what the user typed, verbatim last
        assert recorded["gcloud"][len(recorded["gcloud"]) - len(flags) :] == flags, case
        assert recorded["printed_request"]["parent"] == _parent(recorded["path"]), case
        if case in REFUSED_AS_TYPED:
            assert "request" not in recorded, case
            assert REFUSED_AS_TYPED[case] in recorded["refused"], case
        else:
            assert "refused" not in recorded, case
            assert recorded["request"]["parent"] == _parent(recorded["path"]), case


def _record_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "record_gcloud", gcloud_env.ROOT / "scripts" / "record_gcloud.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_the_recordings_are_the_recording_scripts_cases() -> None:
    """Every case of scripts/record_gcloud.py is recorded with its current command lines
    (a case changed in the script but not recorded again fails here)."""
    script = _record_script()
    assert sorted(CREATE["cases"]) == sorted(script.CREATE_CASES)
    for name, case in script.CREATE_CASES.items():
        recorded = CREATE["cases"][name]
        assert recorded["knwalk"] == case.knwalk_args(), name
        assert recorded["gcloud"] == case.typed_args(), name
        assert recorded["printed"] == case.printed_args(), name
    assert sorted(CREDENTIALS["cases"]) == sorted(script.CREDENTIAL_CASES)
    for name, cred in script.CREDENTIAL_CASES.items():
        recorded = CREDENTIALS["cases"][name]
        assert recorded["gcloud"][6:] == cred.flags, name
        assert recorded["properties"] == cred.properties, name
        assert recorded["plugin_on_path"] == cred.plugin_on_path, name
        assert recorded["kubeconfig_before"] == cred.kubeconfig_before, name


def test_encoding_only_differences_are_the_listed_ones() -> None:
    """The normal form removes exactly the listed differences, and no real one."""
    knwalk_body = {
        "cluster": {
            "releaseChannel": {},
            "defaultMaxPodsConstraint": {"maxPodsPerNode": 110},
            "loggingConfig": {"componentConfig": {"enableComponents": [1, 6]}},
        }
    }
    gcloud_body = {
        "parent": "projects/p/locations/l",
        "cluster": {
            "defaultMaxPodsConstraint": {"maxPodsPerNode": "110"},
            "loggingConfig": {
                "componentConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "ADDON_MANAGER"]}
            },
            "releaseChannel": {"channel": "UNSPECIFIED"},
        },
    }
    assert len(gcloud_env.ENCODING_ONLY) == 5
    norm = gcloud_env.normal_form
    assert norm(knwalk_body, parent="projects/p/locations/l") == norm(gcloud_body)
    different = json.loads(json.dumps(gcloud_body))
    different["cluster"]["releaseChannel"] = {"channel": "REGULAR"}
    assert norm(knwalk_body) != norm(different)
    with pytest.raises(AssertionError, match="parent"):
        norm(gcloud_body, parent="projects/p/locations/other")


@pytest.mark.skipif(gcloud_env.GCLOUD is None, reason=gcloud_env.SKIP_REASON)
@pytest.mark.parametrize("case", sorted(CREATE["cases"]))
def test_printed_gcloud_commands_create_the_same_cluster_in_gcloud(case: str, home: Path) -> None:
    """The command knwalk's ``--dry-run`` prints for every recorded flag set, run through
    the installed gcloud against a local fake GKE, sends the request knwalk sends
    (knwalk's side: its ``--dry-run -o json``)."""
    args = CREATE["cases"][case]["knwalk"]
    result = knwalk("cluster", "create", *args, "--project", P, "--dry-run", "-o", "json")
    assert result.code == 0, result.err
    ours = json.loads(result.out)
    with FakeGke() as server:
        config = gcloud_env.write_config(home / "gcloud-run", server.url, project=P)
        run = gcloud_env.run_gcloud(
            [*_printed_command(args), "--async"], gcloud_env.environ(config)
        )
        posts = server.calls("POST")
    assert len(posts) == 1, run.stderr[-2000:]
    parent = _parent(posts[0].path)
    assert gcloud_env.normal_form(posts[0].body, parent=parent) == (
        gcloud_env.normal_form(ours, parent=parent)
    )


#: (gcloud configurations, active_config file, environment) -> the parent gcloud creates
#: in (None: gcloud has no project; knwalk then takes GOOGLE_CLOUD_PROJECT, with a note;
#: REFUSED: gcloud and knwalk both refuse)
REFUSED = "refused"
WHERE_CASES = {
    "configuration-beats-google-cloud-project": (
        {"default": "project = in-default"}, "default",
        {"GOOGLE_CLOUD_PROJECT": "from-google-env"}, "projects/in-default/locations/" + Z,
    ),
    "cloudsdk-core-project-beats-configuration": (
        {"default": "project = in-default"}, "default",
        {"CLOUDSDK_CORE_PROJECT": "from-sdk-env", "GOOGLE_CLOUD_PROJECT": "from-google-env"},
        "projects/from-sdk-env/locations/" + Z,
    ),
    "cloudsdk-active-config-name-picks-the-configuration": (
        {"default": "project = in-default", "other": "project = in-other"}, "default",
        {"CLOUDSDK_ACTIVE_CONFIG_NAME": "other", "GOOGLE_CLOUD_PROJECT": "from-google-env"},
        "projects/in-other/locations/" + Z,
    ),
    "active-config-file-picks-the-configuration": (
        {"default": "project = in-default", "other": "project = in-other"}, "other",
        {"GOOGLE_CLOUD_PROJECT": "from-google-env"}, "projects/in-other/locations/" + Z,
    ),
    "google-cloud-project-only-without-gcloud-project": (
        {"default": ""}, "default", {"GOOGLE_CLOUD_PROJECT": "from-google-env"}, None,
    ),
    "zone-property": (
        {"default": f"project = {P}\n[compute]\nzone = europe-west1-b"}, "default", {},
        f"projects/{P}/locations/europe-west1-b",
    ),
    "region-property": (
        {"default": f"project = {P}\n[compute]\nregion = europe-west1"}, "default", {},
        f"projects/{P}/locations/europe-west1",
    ),
    "empty-cloudsdk-compute-zone-unsets-the-files-zone": (
        {"default": f"project = {P}\n[compute]\nzone = europe-west1-b\nregion = asia-east1"},
        "default", {"CLOUDSDK_COMPUTE_ZONE": ""}, f"projects/{P}/locations/asia-east1",
    ),
    "empty-cloudsdk-core-project-is-refused": (
        {"default": "project = in-default"}, "default", {"CLOUDSDK_CORE_PROJECT": ""},
        REFUSED,
    ),
    "zone-property-beats-region-property": (
        {"default": f"project = {P}\n[compute]\nregion = europe-west1"}, "default",
        {"CLOUDSDK_COMPUTE_ZONE": "asia-east1-a"}, f"projects/{P}/locations/asia-east1-a",
    ),
}  # fmt: skip


@pytest.mark.skipif(gcloud_env.GCLOUD is None, reason=gcloud_env.SKIP_REASON)
@pytest.mark.parametrize("case", sorted(WHERE_CASES))
def test_the_cluster_goes_where_gcloud_would_create_it(
    case: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --project and --zone, gcloud's create and knwalk's go to the same project
    and location (gcloud ignores GOOGLE_CLOUD_PROJECT; knwalk uses it only when gcloud
    has no project, and says so)."""
    configs, active, environment, expected = WHERE_CASES[case]
    sets_location = any("[compute]" in text for text in configs.values()) or any(
        var.startswith("CLOUDSDK_COMPUTE_") for var in environment
    )
    where = [] if sets_location else ["--zone", Z]
    config_dir = home / "gcloud"
    (config_dir / "configurations").mkdir(parents=True)
    for name, properties in configs.items():
        text = f"[core]\n{properties}\n" if properties else ""
        (config_dir / "configurations" / f"config_{name}").write_text(text)
    (config_dir / "active_config").write_text(active)  # as gcloud writes it: no newline
    with FakeGke() as server:
        # the local API and no credentials through the environment, so that the
        # configuration files hold only what the user set
        run = gcloud_env.run_gcloud(
            ["container", "clusters", "create", "knwalk", *where, "--async"],
            gcloud_env.environ(
                config_dir,
                CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER=server.url + "/",
                CLOUDSDK_API_ENDPOINT_OVERRIDES_SERVICEUSAGE=server.url + "/",
                CLOUDSDK_AUTH_DISABLE_CREDENTIALS="true",
                CLOUDSDK_CORE_CHECK_GCE_METADATA="false",
                CLOUDSDK_CORE_DISABLE_USAGE_REPORTING="true",
                CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="true",
                **environment,
            ),
        )
        gcloud_posts = [c.path for c in server.calls("POST")]
    for var, value in environment.items():
        monkeypatch.setenv(var, value)
    with FakeGke() as server:
        monkeypatch.setenv("KNWALK_GKE_ENDPOINT", server.url)
        result = knwalk("cluster", "create", *where, "--yes", "--no-wait")
        knwalk_posts = [c.path for c in server.calls("POST")]
    if expected == REFUSED:
        assert run.returncode != 0 and gcloud_posts == [], run.stderr[-2000:]
        assert result.code == 2 and knwalk_posts == [], result.err
        assert "set to the empty string" in run.stderr
        assert result.err.startswith(
            "Error: CLOUDSDK_CORE_PROJECT is set to the empty string, which is not a project\n"
            "Hint: unset it"
        ), result.err
        return
    assert result.code == 0, result.err
    if expected is None:
        assert run.returncode != 0 and gcloud_posts == [], run.stderr[-2000:]
        assert knwalk_posts == [f"/v1/projects/from-google-env/locations/{Z}/clusters"]
        summary = " ".join(result.out.split())
        assert "Project from-google-env (from GOOGLE_CLOUD_PROJECT; no gcloud project is set)" in (
            summary
        )
    else:
        assert run.returncode == 0, run.stderr[-2000:]
        assert gcloud_posts == knwalk_posts == [f"/v1/{expected}/clusters"]


# --------------------------------------------------------------------------- get-credentials


def _credential_home(
    home: Path, fake: FakeGke, recorded: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str | None]:
    """The world gcloud saw: the served cluster, gcloud properties, the kubeconfig and the
    plugin's cache before, and where the plugin is. Returns (kubeconfig, SDK bin dir)."""
    fake.clusters[(P, Z, "knwalk")] = json.loads(json.dumps(recorded["cluster"]))
    properties = {"core": {"project": P}, **recorded["properties"]}
    config = home / "gcloud" / "configurations"
    config.mkdir(parents=True)
    (config / "config_default").write_text(
        "".join(
            f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
            for section, values in properties.items()
        )
    )
    kube = home / "kube"
    kube.mkdir()
    kubeconfig = kube / "config"
    if recorded["kubeconfig_before"] is not None:
        kubeconfig.write_text(recorded["kubeconfig_before"])
    (kube / CACHE).write_text('{"cached": "token of another account"}')

    def executable(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)

    path_dir = home / "path"
    path_dir.mkdir()
    sdk_bin = None
    if recorded["plugin_on_path"]:
        executable(path_dir / PLUGIN)
    else:  # the plugin only in the bin/ of the SDK whose gcloud is on PATH
        sdk = home / "google-cloud-sdk" / "bin"
        (sdk.parent / ".install").mkdir(parents=True)  # what marks an SDK's root
        executable(sdk / "gcloud")
        executable(sdk / PLUGIN)
        (path_dir / "gcloud").symlink_to(sdk / "gcloud")
        sdk_bin = str(sdk)
    monkeypatch.setenv("PATH", str(path_dir))
    return kubeconfig, sdk_bin


def _by_name(doc: dict[str, Any], section: str) -> dict[str, Any]:
    return {entry["name"]: entry for entry in doc.get(section) or []}


SUCCESSES = sorted(c for c, r in CREDENTIALS["cases"].items() if r["exit_code"] == 0)
REFUSALS = sorted(c for c, r in CREDENTIALS["cases"].items() if r["exit_code"] != 0)


@pytest.mark.parametrize("case", SUCCESSES)
def test_get_credentials_writes_what_gcloud_wrote(
    case: str, fake: FakeGke, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = CREDENTIALS["cases"][case]
    kubeconfig, sdk_bin = _credential_home(home, fake, recorded, monkeypatch)
    flags = recorded["gcloud"][6:]  # after: container clusters get-credentials knwalk --zone Z
    result = knwalk("cluster", "get-credentials", "knwalk", "--zone", Z, *flags)
    assert result.code == 0, result.err

    text = (gcloud_env.FIXTURES / "kubeconfig" / f"{case}.yaml").read_text()
    if sdk_bin is not None:
        text = text.replace(recorded["sdk_bin"], sdk_bin)
    theirs = yaml.safe_load(text)
    ours = yaml.safe_load(kubeconfig.read_text())
    for section in ("clusters", "users", "contexts"):
        assert _by_name(ours, section) == _by_name(theirs, section), section
    rest = {k: v for k, v in theirs.items() if k not in ("clusters", "users", "contexts")}
    assert {k: ours.get(k) for k in rest} == rest
    assert set(ours) == set(theirs)
    assert (home / "kube" / CACHE).read_text() == recorded["cache_after"] == ""
    assert oct(stat.S_IMODE(kubeconfig.stat().st_mode)) == recorded["kubeconfig_mode"]


@pytest.mark.parametrize("case", REFUSALS)
def test_get_credentials_refuses_what_gcloud_refuses(
    case: str, fake: FakeGke, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = CREDENTIALS["cases"][case]
    kubeconfig, _ = _credential_home(home, fake, recorded, monkeypatch)
    flags = recorded["gcloud"][6:]
    result = knwalk("cluster", "get-credentials", "knwalk", "--zone", Z, *flags)
    assert result.code == 1, (result.out, result.err)
    lines = result.err.splitlines()
    assert lines[0].startswith("Error: ") and lines[1].startswith("Hint: "), result.err
    assert "Traceback" not in result.err
    assert not kubeconfig.exists()
    assert (home / "kube" / CACHE).read_text() != ""  # nothing was written, nothing reset


WORDS = {
    "internal-ip-not-private": "is not a private cluster",
    "internal-ip-dns-only": "IP access is disabled for cluster knwalk",
    "dns-endpoint-closed": "allowExternalTraffic is disabled",
    "dns-endpoint-missing": "cluster knwalk is missing DNSEndpointConfig",
    "dns-endpoint-adc": "container/use_application_default_credentials",
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_say_what_gcloud_says(
    case: str, fake: FakeGke, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = CREDENTIALS["cases"][case]
    _credential_home(home, fake, recorded, monkeypatch)
    result = knwalk("cluster", "get-credentials", "knwalk", "--zone", Z, *recorded["gcloud"][6:])
    assert WORDS[case] in result.err
    gcloud_words = WORDS[case].replace("container/use_application_default_credentials", "")
    assert gcloud_words in recorded["error"]


@pytest.mark.skipif(gcloud_env.GCLOUD is None, reason=gcloud_env.SKIP_REASON)
def test_the_recorded_kubeconfigs_are_still_what_gcloud_writes(home: Path) -> None:
    """One case again through the installed gcloud: the recordings have not gone stale."""
    recorded = CREDENTIALS["cases"]["adc"]
    with FakeGke() as server:
        server.clusters[(P, Z, "knwalk")] = json.loads(json.dumps(recorded["cluster"]))
        config = gcloud_env.write_config(
            home / "gcloud-live", server.url, project=P, properties=recorded["properties"]
        )
        target = home / "live" / "config"
        target.parent.mkdir()
        run = gcloud_env.run_gcloud(
            recorded["gcloud"], gcloud_env.environ(config, KUBECONFIG=str(target))
        )
    assert run.returncode == 0, run.stderr[-2000:]
    fixture = yaml.safe_load((gcloud_env.FIXTURES / "kubeconfig" / "adc.yaml").read_text())
    live = yaml.safe_load(target.read_text())
    if live["users"][0]["user"]["exec"]["command"] != PLUGIN:  # the plugin is not on PATH here
        live["users"][0]["user"]["exec"]["command"] = PLUGIN
    assert live == fixture
