"""Project and location resolution: flags, environment, the gcloud configuration file, ADC."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kn_walk import gcloud_config as gc
from kn_walk import gke
from kn_walk.errors import KnwalkError, UsageError


def write_config(root: Path, name: str, text: str, *, active: bool = True) -> None:
    (root / "configurations").mkdir(parents=True, exist_ok=True)
    (root / "configurations" / f"config_{name}").write_text(text)
    if active:
        (root / "active_config").write_text(name + "\n")


def env(root: Path, **extra: str) -> dict[str, str]:
    return {"CLOUDSDK_CONFIG": str(root), **extra}


def test_active_configuration_file_is_read(tmp_path: Path) -> None:
    write_config(
        tmp_path, "work", "[core]\nproject = from-file\n[compute]\nzone = europe-west1-b\n"
    )
    props = gc.load(env(tmp_path))
    assert props.file == tmp_path / "configurations" / "config_work"
    assert gc.resolve_project(None, props).value == "from-file"
    where = gc.resolve_location(zone=None, region=None, props=props, default="us-central1-a")
    assert (where.value, where.source) == ("europe-west1-b", f"gcloud configuration {props.file}")


def test_default_configuration_when_no_active_config_file(tmp_path: Path) -> None:
    write_config(tmp_path, "default", "[core]\nproject = the-default\n", active=False)
    assert gc.active_config_name(env(tmp_path)) == "default"
    assert gc.resolve_project(None, gc.load(env(tmp_path))).value == "the-default"


def test_active_config_name_from_environment_wins(tmp_path: Path) -> None:
    write_config(tmp_path, "one", "[core]\nproject = project-one\n")
    write_config(tmp_path, "two", "[core]\nproject = project-two\n", active=False)
    props = gc.load(env(tmp_path, CLOUDSDK_ACTIVE_CONFIG_NAME="two"))
    assert gc.resolve_project(None, props).value == "project-two"


def test_missing_gcloud_directory_gives_no_values(tmp_path: Path) -> None:
    props = gc.load(env(tmp_path / "nothing"))
    with pytest.raises(UsageError) as info:
        gc.resolve_project(None, props, adc_project=lambda: None)
    assert info.value.message == "no Google Cloud project is set"
    assert "--project" in info.value.hint and "gcloud config set project" in info.value.hint


def test_project_precedence_is_gclouds_then_google_cloud_project_then_adc(tmp_path: Path) -> None:
    """gcloud ignores GOOGLE_CLOUD_PROJECT: after `gcloud config set project other` (or with
    CLOUDSDK_CORE_PROJECT) the cluster goes where gcloud would put it."""
    write_config(tmp_path, "default", "[core]\nproject = from-file\n")
    full = env(
        tmp_path, GOOGLE_CLOUD_PROJECT="from-google-env", CLOUDSDK_CORE_PROJECT="from-sdk-env"
    )
    adc_calls: list[int] = []

    def adc() -> str:
        adc_calls.append(1)
        return "from-adc-creds"

    def resolve(flag: str | None, environ: dict[str, str]) -> gc.Resolved:
        return gc.resolve_project(flag, gc.load(environ), adc_project=adc)

    assert resolve("from-flag", full) == gc.Resolved("from-flag", "--project")
    assert resolve(None, full) == gc.Resolved("from-sdk-env", "CLOUDSDK_CORE_PROJECT")
    del full["CLOUDSDK_CORE_PROJECT"]
    from_file = resolve(None, full)
    assert (from_file.value, from_file.fallback) == ("from-file", False)
    (tmp_path / "configurations" / "config_default").write_text("")
    assert resolve(None, full) == gc.Resolved(
        "from-google-env", "GOOGLE_CLOUD_PROJECT; no gcloud project is set", fallback=True
    )
    assert adc_calls == []
    del full["GOOGLE_CLOUD_PROJECT"]
    assert resolve(None, full) == gc.Resolved(
        "from-adc-creds", "application default credentials; no gcloud project is set", True
    )
    assert adc_calls == [1]


def test_an_empty_variable_overrides_the_file_as_in_gcloud(tmp_path: Path) -> None:
    """gcloud: ``CLOUDSDK_COMPUTE_ZONE=`` unsets the configuration's zone (the region
    property then applies); ``CLOUDSDK_CORE_PROJECT=`` is refused ("set to the empty
    string"), not a reason to create the cluster in the configuration's project."""
    write_config(
        tmp_path,
        "default",
        "[core]\nproject = in-file\n[compute]\nzone = europe-west1-b\nregion = asia-east1\n",
    )
    props = gc.load(env(tmp_path, CLOUDSDK_COMPUTE_ZONE=""))
    where = gc.resolve_location(zone=None, region=None, props=props, default="us-central1-a")
    assert where.value == "asia-east1"
    with pytest.raises(UsageError) as info:
        gc.resolve_project(None, gc.load(env(tmp_path, CLOUDSDK_CORE_PROJECT=" ")))
    assert info.value.message.startswith("CLOUDSDK_CORE_PROJECT is set to the empty string")
    assert "unset CLOUDSDK_CORE_PROJECT" in info.value.hint
    assert gc.resolve_project(
        "from-flag", gc.load(env(tmp_path, CLOUDSDK_CORE_PROJECT=""))
    ).value == ("from-flag")


def _sdk(tmp_path: Path, properties: str) -> str:
    """A Cloud SDK whose gcloud is on the returned PATH (through a symlink, as apt puts
    /usr/bin/gcloud), with installation-wide ``properties``."""
    root = tmp_path / "google-cloud-sdk"
    (root / ".install").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "bin" / "gcloud").write_text("#!/bin/sh\nexit 0\n")
    (root / "bin" / "gcloud").chmod(0o755)
    (root / "properties").write_text(properties)
    path = tmp_path / "usr-bin"
    path.mkdir()
    (path / "gcloud").symlink_to(root / "bin" / "gcloud")
    return str(path)


def test_installation_properties_come_below_the_configuration(tmp_path: Path) -> None:
    """`gcloud config set --installation compute/zone Z` (``<SDK root>/properties``)
    applies when neither the environment nor the active configuration sets it."""
    path = _sdk(tmp_path, "[core]\nproject = from-install\n[compute]\nzone = asia-east1-a\n")
    config = tmp_path / "gcloud"
    write_config(config, "default", "[core]\nproject = from-config\n")
    props = gc.load(env(config, PATH=path))
    assert gc.resolve_project(None, props).value == "from-config"
    where = gc.resolve_location(zone=None, region=None, props=props, default="us-central1-a")
    installed = tmp_path / "google-cloud-sdk" / "properties"
    assert (where.value, where.source) == (
        "asia-east1-a",
        f"gcloud installation properties {installed}",
    )
    write_config(config, "default", "")
    assert gc.resolve_project(None, gc.load(env(config, PATH=path))).value == "from-install"
    with_env = gc.load(env(config, PATH=path, CLOUDSDK_CORE_PROJECT="from-env"))
    assert gc.resolve_project(None, with_env).value == "from-env"
    # not an SDK (no .install): nothing read
    (tmp_path / "google-cloud-sdk" / ".install").rmdir()
    assert gc.load(env(config, PATH=path)).installation == {}


def test_a_named_configuration_beats_google_cloud_project(tmp_path: Path) -> None:
    write_config(tmp_path, "default", "[core]\nproject = in-default\n")
    write_config(tmp_path, "other", "[core]\nproject = in-other\n", active=False)
    props = gc.load(
        env(tmp_path, CLOUDSDK_ACTIVE_CONFIG_NAME="other", GOOGLE_CLOUD_PROJECT="from-google-env")
    )
    assert gc.resolve_project(None, props).value == "in-other"


def test_location_precedence_follows_gcloud(tmp_path: Path) -> None:
    write_config(tmp_path, "default", "[compute]\nregion = europe-west1\n")

    def resolve(environ: dict[str, str], **flags: str) -> gc.Resolved:
        return gc.resolve_location(
            zone=flags.get("zone"),
            region=flags.get("region"),
            location=flags.get("location"),
            props=gc.load(environ),
            default="us-central1-a",
        )

    base = env(tmp_path)
    assert resolve(base, zone="asia-east1-a") == gc.Resolved("asia-east1-a", "--zone")
    assert resolve(base, region="asia-east1") == gc.Resolved("asia-east1", "--region")
    assert resolve(base, location="asia-east1") == gc.Resolved("asia-east1", "--location")
    # the zone property (environment or file) wins over the region property
    assert resolve({**base, "CLOUDSDK_COMPUTE_ZONE": "us-east1-b"}).value == "us-east1-b"
    assert resolve({**base, "CLOUDSDK_COMPUTE_REGION": "us-east1"}).value == "us-east1"
    assert resolve(base).value == "europe-west1"
    assert resolve(env(tmp_path / "none")) == gc.Resolved("us-central1-a", "knwalk default")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({"zone": "us-central1"}, "is not a zone name"),
        ({"region": "us-central1-a"}, "is not a region name"),
        ({"location": "central"}, "neither a zone nor a region"),
        (
            {"zone": "us-central1-a", "region": "us-central1"},
            "--zone and --region cannot be used together",
        ),
    ],
)
def test_bad_locations(tmp_path: Path, flags: dict[str, str], words: str) -> None:
    with pytest.raises(UsageError) as info:
        gc.resolve_location(
            zone=flags.get("zone"),
            region=flags.get("region"),
            location=flags.get("location"),
            props=gc.load(env(tmp_path)),
            default="us-central1-a",
        )
    assert words in info.value.message


def test_no_location_and_no_default_says_how_to_set_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        gc.resolve_location(zone=None, region=None, props=gc.load(env(tmp_path)), default=None)
    assert "gcloud config set compute/zone" in info.value.hint


def test_bad_project_id_and_broken_config_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        gc.resolve_project("Not_A_Project", gc.load(env(tmp_path)))
    write_config(tmp_path, "default", "this is not ini\n")
    with pytest.raises(KnwalkError) as info:
        gc.load(env(tmp_path))
    assert "not a valid properties file" in info.value.message


def _load_in_a_child(environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``gc.load`` in a child (1 GiB of memory, 30 s): unbounded, a FIFO or a device as
    the file would hang the test or fill memory."""

    def limit() -> None:  # pragma: no cover - runs in the child
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    code = (
        "from kn_walk import gcloud_config as gc\n"
        "from kn_walk.errors import KnwalkError\n"
        "try:\n"
        "    props = gc.load()\n"
        "    print('values', sorted(props.values.items()))\n"
        "except KnwalkError as exc:\n"
        "    print('error', exc.message)\n"
        "    print('hint', exc.hint)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=limit,
        check=False,
    )


@pytest.mark.parametrize("what", ["fifo", "device", "directory", "huge"])
def test_a_properties_file_that_is_not_a_small_regular_file_is_refused(
    tmp_path: Path, what: str
) -> None:
    write_config(tmp_path, "default", "[core]\nproject = p-123456\n")
    path = tmp_path / "configurations" / "config_default"
    path.unlink()
    if what == "fifo":
        os.mkfifo(path)
    elif what == "device":
        path.symlink_to("/dev/zero")
    elif what == "directory":
        path.mkdir()
    else:
        with path.open("wb") as f:
            f.truncate(5 * 1024 * 1024)
    kind = {
        "fifo": "is a pipe, not a regular file",
        "device": "is a character device, not a regular file",
        "directory": "is a directory, not a regular file",
        "huge": "is larger than 4 MiB",
    }[what]
    proc = _load_in_a_child(env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"error the gcloud configuration {path} {kind}"
    assert lines[1] == "hint fix or remove it, or pass --project and --zone explicitly"


def test_an_active_config_file_that_is_a_fifo_means_the_default(tmp_path: Path) -> None:
    write_config(tmp_path, "default", "[core]\nproject = p-123456\n", active=False)
    os.mkfifo(tmp_path / "active_config")
    proc = _load_in_a_child(env(tmp_path))
    assert proc.stdout == "values [(('core', 'project'), 'p-123456')]\n", proc.stderr


def test_adc_project_reads_google_auth_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """google.auth.default() with a service-account key file names its project; no network."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "adc-project",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "knwalk@adc-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    keyfile = tmp_path / "key.json"
    keyfile.write_text(json.dumps(info))
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("GCLOUD_PROJECT", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(keyfile))
    assert gke.adc_project() == "adc-project"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    assert gke.adc_project() is None


# --------------------------------------------------------------------------- the metadata server

ROOT = Path(__file__).resolve().parent.parent


def _on_gce() -> bool:
    try:
        return Path("/sys/class/dmi/id/product_name").read_text().startswith("Google")
    except OSError:
        return False


@pytest.mark.skipif(_on_gce(), reason="on Google Compute Engine the metadata server answers")
def test_no_project_anywhere_probes_the_metadata_server_once(tmp_path: Path) -> None:
    """Off Google Cloud, google-auth's default probe is three tries of 3 s with backoff
    (12.7 s before "no project"); knwalk bounds it to one try (google-auth's own
    GCE_METADATA_DETECT_RETRIES/GCE_METADATA_TIMEOUT), as quick as gcloud."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    accepted: list[socket.socket] = []

    def accept() -> None:  # a metadata server that never answers
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLOUDSDK_", "KNWALK_", "GCE_", "GOOGLE_"))
        and k not in ("GCLOUD_PROJECT", "NO_GCE_CHECK")
    }
    env.update(
        CLOUDSDK_CONFIG=str(tmp_path / "gcloud"),
        HOME=str(tmp_path),
        GCE_METADATA_IP=address,
        GCE_METADATA_HOST=address,
    )
    try:
        run = subprocess.run(
            [sys.executable, "-m", "kn_walk", "cluster", "list"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() above
        listener.close()
        thread.join(timeout=10)
        for conn in accepted:
            conn.close()
    assert run.returncode == 2, run.stderr
    assert run.stderr.splitlines()[0] == "Error: no Google Cloud project is set"
    assert len(accepted) == 1  # one probe, not google-auth's default three


def _probe_settings(**extra: str) -> str:
    """google-auth's metadata-server probe (``ping``'s timeout and tries) in a fresh
    process once knwalk has imported google.auth."""
    code = (
        "import inspect\n"
        "from kn_walk.gke.api import google_auth\n"
        "google_auth()\n"
        "from google.auth.compute_engine import _metadata\n"
        "p = inspect.signature(_metadata.ping).parameters\n"
        "print(p['timeout'].default, p['retry_count'].default)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GCE_")}
    env.update(extra)
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_the_metadata_probe_is_one_try_of_one_second_unless_the_user_says_otherwise() -> None:
    """The bound behind "as quick as gcloud": google-auth's default is three tries of 3 s."""
    assert _probe_settings() == "1 1"
    assert _probe_settings(GCE_METADATA_TIMEOUT="5", GCE_METADATA_DETECT_RETRIES="2") == "5 2"
