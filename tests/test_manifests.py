"""Release catalog, option parsing, manifest parsing, step planning, and downloads.

Downloads go to a real HTTP server on 127.0.0.1 (a thread in the test) through
the real ``httpx`` client: cache hits, pinned checksums, 404s, 5xx retries,
refused connections and cut bodies.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kn_walk import manifests as M
from kn_walk.errors import EXIT_USAGE, KnwalkError, UsageError

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"


# --------------------------------------------------------------------------- a file server


class FileServer:
    """Serves ``files`` (name → bytes) on 127.0.0.1; ``faults`` name → list of statuses to answer first."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.faults: dict[str, list[int]] = {}
        self.truncate: set[str] = set()
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
                server.requests.append(self.path)
                pending = server.faults.get(name)
                if pending:
                    code = pending.pop(0)
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = server.files.get(name)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if name in server.truncate else body)
                if name in server.truncate:
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/knative/"

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def fixture_files() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in FIXTURES.glob("*.yaml")}


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer(fixture_files()) as srv:
        yield srv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


RELEASE = M.CATALOG[M.DEFAULT_SERVING_VERSION]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- catalog


def test_default_release_is_the_walkthroughs() -> None:
    assert M.DEFAULT_SERVING_VERSION == "1.22.1"
    assert M.Release("1.22.1", "1.22.0", "1.22.0", "1.29.2") == RELEASE
    assert M.known_versions()[0] == "1.22.1"


def test_urls_are_the_ones_the_knative_docs_give() -> None:
    assert [(f.name, f.url) for f in RELEASE.files("istio")] == [
        (
            "istio.yaml",
            "https://github.com/knative-extensions/net-istio/releases/download/knative-v1.22.0/istio.yaml",
        ),
        (
            "serving-crds.yaml",
            "https://github.com/knative/serving/releases/download/knative-v1.22.1/serving-crds.yaml",
        ),
        (
            "serving-core.yaml",
            "https://github.com/knative/serving/releases/download/knative-v1.22.1/serving-core.yaml",
        ),
        (
            "net-istio.yaml",
            "https://github.com/knative-extensions/net-istio/releases/download/knative-v1.22.0/net-istio.yaml",
        ),
    ]
    assert [f.url for f in RELEASE.files("kourier")][-1] == (
        "https://github.com/knative-extensions/net-kourier/releases/download/knative-v1.22.0/kourier.yaml"
    )


def test_no_checksum_is_invented() -> None:
    """Hashes are recorded only once verified; the cache pins them on first fetch instead."""
    for release in M.CATALOG.values():
        for ingress in M.INGRESSES:
            for f in release.files(ingress):
                assert f.sha256 is None or (len(f.sha256) == 64 and int(f.sha256, 16) >= 0)
    for value in M.RECORDED_SHA256.values():
        assert len(value) == 64


@pytest.mark.parametrize("text", ["1.22.1", "v1.22.1", "knative-v1.22.1", " 1.22.1 "])
def test_version_forms(text: str) -> None:
    assert M.release_for(text).serving == "1.22.1"


def test_unknown_version_is_a_usage_error_listing_the_known_ones() -> None:
    with pytest.raises(UsageError) as info:
        M.release_for("1.2.3")
    assert info.value.exit_code == EXIT_USAGE
    assert "1.22.1" in info.value.hint and "--manifests" in info.value.hint
    with pytest.raises(UsageError):
        M.release_for("latest")
    unlisted = M.release_for("1.20.3", from_manifests=True)
    assert (unlisted.serving, unlisted.listed, unlisted.istio) == ("1.20.3", False, None)


def test_ingress_choices() -> None:
    assert M.parse_ingress("Kourier") == "kourier"
    with pytest.raises(UsageError) as info:
        M.parse_ingress("contour")
    assert "istio, kourier" in info.value.hint


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("example.com", "example.com"),
        ("Example.COM.", "example.com"),
        ("sslip.io", "sslip.io"),
        ("none", "none"),
        ("knative.my-company.dev", "knative.my-company.dev"),
        ("10.0.0.1.sslip.io", "10.0.0.1.sslip.io"),
    ],
)
def test_domain_forms(text: str, value: str) -> None:
    assert M.parse_domain(text) == value


@pytest.mark.parametrize("text", ["", "localhost", "bad domain.com", "-x.com", "a..b", "x_y.com"])
def test_bad_domains(text: str) -> None:
    with pytest.raises(UsageError):
        M.parse_domain(text)


LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


@given(st.lists(LABEL, min_size=2, max_size=5))
def test_any_dns_domain_is_accepted(labels: list[str]) -> None:
    domain = ".".join(labels)
    if len(domain) <= 253:
        assert M.parse_domain(domain.upper()) == domain


@given(st.text(max_size=40))
def test_domain_parsing_never_fails_another_way(text: str) -> None:
    try:
        value = M.parse_domain(text)
    except UsageError:
        return
    assert value in ("none", "sslip.io") or "." in value


def test_sources(tmp_path: Path) -> None:
    assert M.parse_source(None) == M.Source("release")
    assert M.parse_source(str(tmp_path)) == M.Source("dir", str(tmp_path))
    assert M.parse_source("https://mirror.example/knative/").kind == "mirror"
    for bad in ("ftp://x/", str(tmp_path / "missing"), "https://x/?q=1"):
        with pytest.raises(UsageError):
            M.parse_source(bad)
    mirror = M.Source("mirror", "https://mirror.example/knative")
    assert mirror.url_of(RELEASE.files("istio")[0]) == "https://mirror.example/knative/istio.yaml"


def test_sslip_needs_an_ipv4_address() -> None:
    assert M.sslip_domain("34.1.2.3") == "34.1.2.3.sslip.io"
    with pytest.raises(KnwalkError, match="hostname"):
        M.sslip_domain("abc.elb.amazonaws.com")
    with pytest.raises(KnwalkError, match="IPv4"):
        M.sslip_domain("2001:db8::1")


# --------------------------------------------------------------------------- parsing


def test_documents_lists_and_empty_documents() -> None:
    text = """
---
# only a comment
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: a, namespace: ns}
  - apiVersion: v1
    kind: Namespace
    metadata: {name: ns}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: foos.example.com}
spec: {group: example.com, names: {kind: Foo, plural: foos}}
"""
    objs = M.parse_documents("x.yaml", text)
    assert [o.ref for o in objs] == [
        "ConfigMap ns/a",
        "Namespace ns",
        "CustomResourceDefinition foos.example.com",
    ]
    assert objs[2].defines() == ("example.com", "Foo")
    assert objs[0].defines() is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("a: [", "not valid YAML"),
        ("- 1\n- 2\n", "expected an object"),
        ("kind: ConfigMap\nmetadata: {name: a}\n", "apiVersion is missing"),
        ("apiVersion: v1\nmetadata: {name: a}\n", "kind is missing"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "no metadata.name"),
    ],
)
def test_documents_that_are_not_manifests(text: str, why: str) -> None:
    with pytest.raises(KnwalkError, match=why) as info:
        M.parse_documents("bad.yaml", text)
    assert "bad.yaml" in info.value.message


# --------------------------------------------------------------------------- planning


def local_plan(ingress: str = "istio", domain: str = "example.com") -> M.Plan:
    source = M.parse_source(str(FIXTURES))
    return M.plan_install(RELEASE, ingress, domain, source, M.fetch(RELEASE, ingress, source))


def test_istio_steps_follow_the_docs() -> None:
    plan = local_plan("istio")
    assert [s.name for s in plan.steps] == [
        "istio-crds",
        "istio",
        "serving-crds",
        "serving-core",
        "net-istio",
        "ingress-class",
        "domain",
    ]
    crds, istio = plan.steps[0], plan.steps[1]
    assert all(o.is_crd and o.labels[M.CRD_INSTALL_LABEL] == "true" for o in crds.objects)
    assert not any(o.labels.get(M.CRD_INSTALL_LABEL) for o in istio.objects)
    assert crds.kubectl == (
        "kubectl apply --server-side --field-manager=knwalk -l knative.dev/crd-install=true "
        f"-f {FIXTURES}/istio.yaml"
    )
    assert plan.gateway == ("istio-system", "istio-ingressgateway")
    assert plan.wait_namespaces == ("knative-serving", "istio-system")
    assert plan.ingress_class == "istio.ingress.networking.knative.dev"


def test_within_a_step_namespaces_then_crds_then_the_rest() -> None:
    plan = local_plan("istio")
    for step in plan.steps:
        ranks = [0 if o.kind == "Namespace" else 1 if o.is_crd else 2 for o in step.objects]
        assert ranks == sorted(ranks), step.name
    core = plan.steps[3]
    assert core.objects[0].ref == "Namespace knative-serving"


def test_serving_core_repeats_of_crds_are_applied_once() -> None:
    plan = local_plan("istio")
    names = [o.name for o in plan.objects if o.is_crd]
    assert len(names) == len(set(names))
    assert not plan.steps[3].crds  # the repeat in serving-core.yaml was dropped


def test_the_same_object_with_different_content_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    for p in FIXTURES.glob("*.yaml"):
        (folder / p.name).write_bytes(p.read_bytes())
    with (folder / M.NET_ISTIO).open("a") as f:
        f.write(
            "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-network\n"
            "  namespace: knative-serving\ndata:\n  ingress-class: other\n"
        )
    source = M.parse_source(str(folder))
    with pytest.raises(KnwalkError, match=r"config-network is in both serving-core\.yaml"):
        M.plan_install(RELEASE, "istio", "example.com", source, M.fetch(RELEASE, "istio", source))


def test_kourier_steps_and_settings() -> None:
    plan = local_plan("kourier", "sslip.io")
    assert [s.name for s in plan.steps] == [
        "serving-crds",
        "serving-core",
        "kourier",
        "ingress-class",
        "domain",
    ]
    klass = plan.steps[3]
    assert klass.manager == M.SETTINGS_MANAGER
    assert klass.objects[0].body["data"] == {
        "ingress-class": "kourier.ingress.networking.knative.dev"
    }
    assert klass.kubectl == (
        'echo \'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":'
        '"config-network","namespace":"knative-serving"},"data":{"ingress-class":'
        '"kourier.ingress.networking.knative.dev"}}\' | kubectl apply --server-side '
        "--field-manager=knwalk-config -f -"
    )
    domain = plan.steps[4]
    assert domain.after_waits
    assert domain.objects[0].body["data"] == {"<gateway-ip>.sslip.io": ""}
    assert plan.gateway == ("kourier-system", "kourier")


def test_domain_none_has_no_domain_step() -> None:
    assert [s.name for s in local_plan("istio", "none").steps][-1] == "ingress-class"


def test_plan_document_lists_objects_and_commands() -> None:
    doc = local_plan("istio").document()
    assert doc["servingVersion"] == "1.22.1"
    assert doc["istioVersion"] == "1.29.2"
    assert doc["steps"][3]["objects"][0] == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "namespace": None,
        "name": "knative-serving",
        "source": "serving-core.yaml",
    }
    assert doc["waits"] == {
        "deploymentsIn": ["knative-serving", "istio-system"],
        "gateway": "istio-system/istio-ingressgateway",
    }
    json.dumps(doc)


def test_force_conflicts_and_context_in_the_printed_commands() -> None:
    source = M.parse_source(str(FIXTURES))
    plan = M.plan_install(
        RELEASE,
        "kourier",
        "example.com",
        source,
        M.fetch(RELEASE, "kourier", source),
        kubectl_prefix="kubectl --context gke_p_z_c",
        force_conflicts=True,
    )
    assert plan.steps[0].kubectl.startswith(
        "kubectl --context gke_p_z_c apply --server-side --field-manager=knwalk --force-conflicts"
    )


# --------------------------------------------------------------------------- fetching


def test_dir_source_reads_files_without_the_cache(tmp_path: Path) -> None:
    files = M.fetch(RELEASE, "istio", M.parse_source(str(FIXTURES)), cache_dir=tmp_path)
    assert [f.name for f in files] == [
        "istio.yaml",
        "serving-crds.yaml",
        "serving-core.yaml",
        "net-istio.yaml",
    ]
    assert all(f.pinned is None and not f.cached for f in files)
    assert files[0].sha256 == sha((FIXTURES / "istio.yaml").read_bytes())
    assert not any(tmp_path.iterdir())


def test_dir_source_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KnwalkError) as info:
        M.fetch(RELEASE, "kourier", M.parse_source(str(tmp_path)))
    assert "has no serving-crds.yaml" in info.value.message
    assert "serving/releases/download/knative-v1.22.1/serving-crds.yaml" in info.value.hint


def test_dir_source_checked_against_a_recorded_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = RELEASE.files("kourier")[0].url
    monkeypatch.setitem(M.RECORDED_SHA256, url, "0" * 64)
    with pytest.raises(KnwalkError, match="refusing to use it"):
        M.fetch(RELEASE, "kourier", M.parse_source(str(FIXTURES)))


def test_download_pins_then_serves_from_the_cache(server: FileServer, tmp_path: Path) -> None:
    source = M.parse_source(server.url)
    events: list[M.DownloadEvent] = []
    first = M.fetch(RELEASE, "kourier", source, cache_dir=tmp_path, on_event=events.append)
    assert [f.cached for f in first] == [False, False, False]
    assert len(server.requests) == 3
    assert server.requests[0] == "/knative/serving-crds.yaml"
    phases = [e.phase for e in events if e.name == "kourier.yaml"]
    assert phases[0] == "start" and phases[-1] == "done" and "progress" in phases
    index = json.loads((tmp_path / "1.22.1" / "index.json").read_text())["files"]
    body = (FIXTURES / "kourier.yaml").read_bytes()
    assert index["kourier.yaml"]["sha256"] == sha(body)
    assert index["kourier.yaml"]["url"] == server.url + "kourier.yaml"
    assert index["kourier.yaml"]["size"] == len(body)
    assert (tmp_path / "1.22.1" / "kourier.yaml").read_bytes() == body

    events.clear()
    again = M.fetch(RELEASE, "kourier", source, cache_dir=tmp_path, on_event=events.append)
    assert len(server.requests) == 3  # no request at all
    assert [f.cached for f in again] == [True, True, True]
    assert [f.pinned for f in again] == [f.sha256 for f in first]
    assert {e.phase for e in events} == {"cached"}
    assert [f.text for f in again] == [f.text for f in first]


def test_a_damaged_cache_entry_is_downloaded_again(server: FileServer, tmp_path: Path) -> None:
    source = M.parse_source(server.url)
    M.fetch(RELEASE, "kourier", source, cache_dir=tmp_path)
    (tmp_path / "1.22.1" / "kourier.yaml").write_text("tampered")
    events: list[M.DownloadEvent] = []
    files = M.fetch(RELEASE, "kourier", source, cache_dir=tmp_path, on_event=events.append)
    assert [f.cached for f in files] == [True, True, False]
    assert any(e.phase == "repair" and e.name == "kourier.yaml" for e in events)
    assert (tmp_path / "1.22.1" / "kourier.yaml").read_bytes() == (
        FIXTURES / "kourier.yaml"
    ).read_bytes()


def test_a_file_that_changed_since_it_was_pinned_is_refused(
    server: FileServer, tmp_path: Path
) -> None:
    source = M.parse_source(server.url)
    M.fetch(RELEASE, "kourier", source, cache_dir=tmp_path)
    cached = tmp_path / "1.22.1" / "kourier.yaml"
    cached.unlink()
    server.files["kourier.yaml"] = b"# a different kourier.yaml\n"
    with pytest.raises(KnwalkError) as info:
        M.fetch(RELEASE, "kourier", source, cache_dir=tmp_path)
    err = info.value
    assert "kourier.yaml from " + server.url + "kourier.yaml has sha256 " in err.message
    assert sha((FIXTURES / "kourier.yaml").read_bytes()) in err.message
    assert "refusing to use it" in err.message
    assert not cached.exists()  # the refused file was not cached


def test_a_download_that_does_not_match_the_recorded_hash_is_refused(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = RELEASE.files("kourier")[-1].url
    monkeypatch.setitem(M.RECORDED_SHA256, url, "f" * 64)
    with pytest.raises(KnwalkError, match=r"knwalk recorded f{64}"):
        M.fetch(RELEASE, "kourier", M.parse_source(server.url), cache_dir=tmp_path)
    assert not (tmp_path / "1.22.1" / "kourier.yaml").exists()


def test_the_release_urls_are_used_without_manifests(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog's URL templates point at the loopback server: the release path, end to end."""
    base = server.url
    monkeypatch.setattr(M, "SERVING_URL", base + "{file}?serving={version}")
    monkeypatch.setattr(M, "NET_KOURIER_URL", base + "{file}?kourier={version}")
    files = M.fetch(RELEASE, "kourier", M.Source("release"), cache_dir=tmp_path)
    assert server.requests == [
        "/knative/serving-crds.yaml?serving=1.22.1",
        "/knative/serving-core.yaml?serving=1.22.1",
        "/knative/kourier.yaml?kourier=1.22.0",
    ]
    assert all(not f.cached for f in files)


def test_404_names_the_url_and_how_to_use_manifests(server: FileServer, tmp_path: Path) -> None:
    del server.files["serving-core.yaml"]
    with pytest.raises(KnwalkError) as info:
        M.fetch(RELEASE, "kourier", M.parse_source(server.url), cache_dir=tmp_path, backoff=0)
    err = info.value
    assert err.message == (
        f"cannot download serving-core.yaml: {server.url}serving-core.yaml answered 404 Not Found"
    )
    assert "--serving-version" in err.hint and "--manifests DIR" in err.hint
    assert server.requests.count("/knative/serving-core.yaml") == 1  # a 404 is not retried


def test_5xx_is_retried(server: FileServer, tmp_path: Path) -> None:
    server.faults["kourier.yaml"] = [503, 502]
    events: list[M.DownloadEvent] = []
    files = M.fetch(
        RELEASE,
        "kourier",
        M.parse_source(server.url),
        cache_dir=tmp_path,
        on_event=events.append,
        backoff=0.001,
    )
    assert files[-1].sha256 == sha((FIXTURES / "kourier.yaml").read_bytes())
    assert server.requests.count("/knative/kourier.yaml") == 3
    assert [e.detail for e in events if e.phase == "retry"] == [
        "503 Service Unavailable; retrying",
        "502 Bad Gateway; retrying",
    ]


def test_5xx_gives_up_after_the_retries(server: FileServer, tmp_path: Path) -> None:
    server.faults["serving-crds.yaml"] = [500] * 10
    with pytest.raises(KnwalkError, match="answered 500 Internal Server Error"):
        M.fetch(
            RELEASE,
            "kourier",
            M.parse_source(server.url),
            cache_dir=tmp_path,
            retries=2,
            backoff=0.001,
        )
    assert server.requests.count("/knative/serving-crds.yaml") == 3


def test_connection_refused_is_explained(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/knative/"
    with pytest.raises(KnwalkError) as info:
        M.fetch(RELEASE, "istio", M.parse_source(url), cache_dir=tmp_path)
    err = info.value
    assert err.message.startswith(
        f"cannot download istio.yaml from {url}istio.yaml: connection failed"
    )
    assert "--manifests DIR" in err.hint and "mirror" in err.hint


def test_a_cut_download_is_not_cached(server: FileServer, tmp_path: Path) -> None:
    server.truncate.add("serving-crds.yaml")
    with pytest.raises(KnwalkError) as info:
        M.fetch(
            RELEASE,
            "kourier",
            M.parse_source(server.url),
            cache_dir=tmp_path,
            retries=1,
            backoff=0.001,
        )
    assert "serving-crds.yaml" in info.value.message
    assert not (tmp_path / "1.22.1" / "serving-crds.yaml").exists()


def test_cache_root_follows_xdg(tmp_path: Path) -> None:
    assert M.cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "knwalk" / "manifests"
    assert M.cache_root({}).parts[-3:] == (".cache", "knwalk", "manifests")


def test_dir_source_refuses_a_release_file_that_is_a_device_or_a_pipe(tmp_path: Path) -> None:
    """``--manifests DIR`` holding /dev/zero (or a FIFO) under a release file's name is
    refused unread, instead of read until memory runs out (or forever)."""
    first = RELEASE.files("kourier")[0].name
    (tmp_path / first).symlink_to("/dev/zero")
    with pytest.raises(KnwalkError, match="character device") as info:
        M.fetch(RELEASE, "kourier", M.parse_source(str(tmp_path)))
    assert first in info.value.message
    (tmp_path / first).unlink()
    os.mkfifo(tmp_path / first)
    with pytest.raises(KnwalkError, match="a pipe"):
        M.fetch(RELEASE, "kourier", M.parse_source(str(tmp_path)))


def test_a_release_file_that_is_a_yaml_alias_bomb_is_refused_unexpanded() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    text = "\n".join(levels) + "\n"  # under 1 KB; 9^9 nodes once expanded
    with pytest.raises(KnwalkError, match="excessive aliasing") as info:
        M.parse_documents("serving-core.yaml", text)
    assert "serving-core.yaml" in info.value.message
