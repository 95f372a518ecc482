"""Knative Serving release manifests: the catalog, downloads with a verified cache, ordered steps.

The catalog pins which release files ``knwalk install`` applies, with the URLs
the Knative docs give (``kubectl apply -f URL``):

- ``https://github.com/knative/serving/releases/download/knative-vX/serving-crds.yaml``
  and ``serving-core.yaml``;
- ``https://github.com/knative-extensions/net-istio/releases/download/knative-vY/istio.yaml``
  and ``net-istio.yaml``;
- ``https://github.com/knative-extensions/net-kourier/releases/download/knative-vY/kourier.yaml``.

Checksums, honestly: knwalk was written without network access to those URLs,
so :data:`RECORDED_SHA256` is empty and no hash in it was invented. The first
download of a file pins its sha256 in the cache index
(``$XDG_CACHE_HOME/knwalk/manifests/<version>/index.json``, trust on first
use); every later use of the cached file, and every later download of the same
file (from GitHub or a ``--manifests URL`` mirror), must match that pin or is
refused. A hash added to :data:`RECORDED_SHA256` takes precedence over the pin.
``--manifests DIR`` reads files you put there yourself: they are checked
against :data:`RECORDED_SHA256` when a hash is recorded, not against the cache.

Parsing and planning are pure: :func:`parse_documents` turns YAML into
:class:`ManifestObject` values and :func:`plan_install` orders them into the
:class:`Step` list the docs use (Istio CRDs, Istio, Knative CRDs, serving-core,
net-istio or Kourier, ingress class, domain).

``httpx`` is imported inside :func:`fetch` only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import ipaddress
import json
import os
import random
import re
import shlex
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kn_walk import __version__, safeload
from kn_walk.errors import KnwalkError, UsageError

Obj = dict[str, Any]

# --------------------------------------------------------------------------- catalog

SERVING_CRDS = "serving-crds.yaml"
SERVING_CORE = "serving-core.yaml"
ISTIO = "istio.yaml"
NET_ISTIO = "net-istio.yaml"
KOURIER = "kourier.yaml"

SERVING_URL = "https://github.com/knative/serving/releases/download/knative-v{version}/{file}"
NET_ISTIO_URL = (
    "https://github.com/knative-extensions/net-istio/releases/download/knative-v{version}/{file}"
)
NET_KOURIER_URL = (
    "https://github.com/knative-extensions/net-kourier/releases/download/knative-v{version}/{file}"
)

INGRESSES = ("istio", "kourier")
DEFAULT_INGRESS = "istio"
DEFAULT_DOMAIN = "example.com"
SSLIP = "sslip.io"
NO_DOMAIN = "none"

#: ingress → (ingress class, gateway namespace, gateway Service)
INGRESS_CLASSES: dict[str, tuple[str, str, str]] = {
    "istio": ("istio.ingress.networking.knative.dev", "istio-system", "istio-ingressgateway"),
    "kourier": ("kourier.ingress.networking.knative.dev", "kourier-system", "kourier"),
}

SERVING_NAMESPACE = "knative-serving"
CRD_INSTALL_LABEL = "knative.dev/crd-install"
VERSION_LABEL = "app.kubernetes.io/version"

#: field manager of the release manifests
FIELD_MANAGER = "knwalk"
#: field manager of the settings knwalk chooses (ingress class, domain). A second
#: manager keeps re-runs no-ops: were they applied as ``knwalk``, the next apply
#: of serving-core's ConfigMap (which lacks them) would remove them again.
SETTINGS_MANAGER = "knwalk-config"

CRD_KIND = "CustomResourceDefinition"
CRD_API_VERSION = "apiextensions.k8s.io/v1"


@dataclass(frozen=True)
class Release:
    """One Knative Serving release and the networking-layer releases that go with it."""

    serving: str
    net_istio: str
    net_kourier: str
    #: the Istio version net-istio's istio.yaml installs (None when not recorded)
    istio: str | None = None
    #: False for a version given with --manifests that the catalog does not list
    listed: bool = True

    def files(self, ingress: str) -> tuple[ManifestFile, ...]:
        """The release files ``install --ingress INGRESS`` applies, in apply order."""
        serving = (
            ManifestFile(SERVING_CRDS, SERVING_URL.format(version=self.serving, file=SERVING_CRDS)),
            ManifestFile(SERVING_CORE, SERVING_URL.format(version=self.serving, file=SERVING_CORE)),
        )
        if ingress == "istio":
            istio = ManifestFile(ISTIO, NET_ISTIO_URL.format(version=self.net_istio, file=ISTIO))
            net = ManifestFile(
                NET_ISTIO, NET_ISTIO_URL.format(version=self.net_istio, file=NET_ISTIO)
            )
            return (istio, *serving, net)
        kourier = ManifestFile(
            KOURIER, NET_KOURIER_URL.format(version=self.net_kourier, file=KOURIER)
        )
        return (*serving, kourier)

    def ingress_version(self, ingress: str) -> str:
        return self.net_istio if ingress == "istio" else self.net_kourier


@dataclass(frozen=True)
class ManifestFile:
    name: str
    url: str

    @property
    def sha256(self) -> str | None:
        """The hash recorded in code for this URL, if any (see :data:`RECORDED_SHA256`)."""
        return RECORDED_SHA256.get(self.url)


#: Serving version → release. The net-istio pin for 1.22.x (knative-v1.22.0,
#: Istio 1.29.2) is the one the walkthrough names; every Knative minor release
#: ships net-istio and net-kourier ``knative-vX.Y.0`` in lockstep.
CATALOG: dict[str, Release] = {
    "1.22.1": Release("1.22.1", net_istio="1.22.0", net_kourier="1.22.0", istio="1.29.2"),
    "1.22.0": Release("1.22.0", net_istio="1.22.0", net_kourier="1.22.0", istio="1.29.2"),
    "1.21.0": Release("1.21.0", net_istio="1.21.0", net_kourier="1.21.0"),
}
DEFAULT_SERVING_VERSION = "1.22.1"

#: URL → sha256 of release files whose hash was verified by a person. Empty on
#: purpose: nothing here was downloaded when the catalog was written, and a
#: made-up hash would be worse than none. The cache index pins hashes on first
#: fetch instead (see the module docstring).
RECORDED_SHA256: dict[str, str] = {}

_VERSION_RE = re.compile(r"^(?:knative-)?v?(\d+)\.(\d+)\.(\d+)$")


def known_versions() -> list[str]:
    return sorted(CATALOG, key=lambda v: tuple(int(p) for p in v.split(".")), reverse=True)


def parse_version(text: str) -> str:
    """``1.22.1``, ``v1.22.1`` or ``knative-v1.22.1`` → ``1.22.1``."""
    match = _VERSION_RE.match(text.strip())
    if not match:
        raise UsageError(
            f"--serving-version {text!r} is not a version",
            f"write it as X.Y.Z; known releases: {', '.join(known_versions())}",
        )
    return ".".join(match.groups())


def release_for(version: str, *, from_manifests: bool = False) -> Release:
    """The catalog entry of ``version``; with ``--manifests`` an unlisted version is allowed."""
    number = parse_version(version)
    found = CATALOG.get(number)
    if found is not None:
        return found
    if from_manifests:
        return Release(number, number, number, None, listed=False)
    raise UsageError(
        f"Knative Serving {number} is not in knwalk's release catalog",
        f"use one of {', '.join(known_versions())}, or give the files with --manifests DIR|URL",
    )


def parse_ingress(text: str) -> str:
    value = text.strip().lower()
    if value not in INGRESSES:
        raise UsageError(
            f"--ingress {text!r} is not supported", f"use one of: {', '.join(INGRESSES)}"
        )
    return value


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def parse_domain(text: str) -> str:
    """``--domain``: a DNS domain, ``sslip.io`` (``<gateway-ip>.sslip.io``) or ``none``."""
    value = text.strip().lower().rstrip(".")
    if value in (NO_DOMAIN, SSLIP):
        return value
    labels = value.split(".") if value else []
    if len(labels) < 2 or len(value) > 253 or not all(_DNS_LABEL.match(x) for x in labels):
        raise UsageError(
            f"--domain {text!r} is not a DNS domain",
            "use a name like example.com, or sslip.io, or none",
        )
    return value


@dataclass(frozen=True)
class Source:
    """Where release files come from: the catalog URLs, a mirror URL, or a local folder."""

    kind: str  # "release" | "mirror" | "dir"
    location: str = ""

    def describe(self) -> str:
        if self.kind == "release":
            return "the release URLs (GitHub)"
        return f"{'mirror' if self.kind == 'mirror' else 'folder'} {self.location}"

    def url_of(self, file: ManifestFile) -> str:
        if self.kind == "mirror":
            return self.location.rstrip("/") + "/" + file.name
        if self.kind == "dir":
            return str(Path(self.location) / file.name)
        return file.url


def parse_source(text: str | None) -> Source:
    """``--manifests DIR|URL`` (None: the release URLs)."""
    if text is None:
        return Source("release")
    raw = text.strip()
    if "://" in raw:
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"--manifests {text!r} is not an http(s) URL or a folder",
                "give a folder holding the release files, or a mirror URL https://HOST/PATH/",
            )
        if parts.query or parts.fragment:
            raise UsageError(
                f"--manifests {text!r} has a query or fragment",
                "give the base URL the release files are under, e.g. https://mirror/knative/",
            )
        return Source("mirror", raw)
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise UsageError(
            f"--manifests {text!r} is not a folder",
            "give a folder holding the release files (or a mirror URL)",
        )
    return Source("dir", str(path.absolute()))


# --------------------------------------------------------------------------- cache


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "knwalk" / "manifests"


INDEX_FILE = "index.json"
MAX_BYTES = 64 * 1024 * 1024
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
RETRIES = 3
BACKOFF = 0.5
BACKOFF_CAP = 8.0
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Fetched:
    """One release file, ready to parse: its text, hash and where it came from."""

    name: str
    origin: str  # URL or path it was read from
    sha256: str
    text: str
    cached: bool  # served from the cache without a download
    pinned: str | None  # the hash it was checked against (None: nothing to check)


@dataclass(frozen=True)
class DownloadEvent:
    """Progress of one file: ``phase`` is start | progress | cached | done | retry | repair."""

    name: str
    url: str
    phase: str
    done: int = 0
    total: int | None = None
    detail: str = ""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class CacheIndex:
    """``index.json`` of one version's cache folder: file name → pinned sha256, URL, time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / INDEX_FILE

    def read(self) -> dict[str, Obj]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise KnwalkError(
                f"the manifest cache index {self.path} is unreadable: {exc}",
                f"delete {self.folder} and run again (the files are downloaded again)",
            ) from exc
        files = data.get("files") if isinstance(data, dict) else None
        return {k: v for k, v in (files or {}).items() if isinstance(v, dict)}

    def pin(self, name: str, entry: Obj) -> None:
        """Record ``entry`` for ``name`` unless a pin exists (first fetch wins); atomic."""
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        lock = self.folder / ".index.lock"
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            files = self.read()
            if name in files and files[name].get("sha256"):
                return
            files[name] = entry
            _write_atomic(self.path, json.dumps({"files": files}, indent=2).encode())


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mismatch(name: str, origin: str, got: str, want: str, entry: Obj | None) -> KnwalkError:
    where = ""
    if entry:
        where = f" (pinned when first fetched from {entry.get('url')} at {entry.get('fetched')})"
    return KnwalkError(
        f"{name} from {origin} has sha256 {got}, but knwalk recorded {want}{where}; refusing to use it",
        "the file changed since it was pinned, or was altered in transit; if you trust the new "
        "file, delete the cache folder named in `knwalk install --dry-run` output and run again",
    )


def _download_hint(files: Sequence[ManifestFile]) -> str:
    names = ", ".join(f.name for f in files)
    return (
        f"without internet access, put the release files ({names}) in a folder and pass "
        "--manifests DIR, or point --manifests at a mirror URL"
    )


def fetch(
    release: Release,
    ingress: str,
    source: Source,
    *,
    cache_dir: Path | None = None,
    on_event: Callable[[DownloadEvent], None] | None = None,
    retries: int = RETRIES,
    backoff: float = BACKOFF,
    transport: Any = None,
) -> list[Fetched]:
    """The release files for ``ingress``, from ``source``, verified; downloads go to the cache.

    ``transport`` is an optional ``httpx`` transport (tests never need one: they
    serve files from a loopback HTTP server).
    """
    files = release.files(ingress)
    if source.kind == "dir":
        return [_read_local(source, f) for f in files]
    folder = (cache_dir or cache_root()) / release.serving
    index = CacheIndex(folder)
    pins = index.read()
    out: list[Fetched] = []
    client = None
    try:
        for file in files:
            url = source.url_of(file)
            entry = pins.get(file.name)
            want = file.sha256 or (entry or {}).get("sha256")
            cached = folder / file.name
            if want and cached.is_file():
                data = cached.read_bytes()
                got = _sha256(data)
                if got == want:
                    if on_event:
                        on_event(DownloadEvent(file.name, url, "cached", len(data), len(data)))
                    out.append(
                        Fetched(file.name, str(cached), got, _decode(file.name, data), True, want)
                    )
                    continue
                if on_event:
                    on_event(
                        DownloadEvent(
                            file.name, url, "repair", detail=f"cached copy has sha256 {got}"
                        )
                    )
            if client is None:
                client = _client(transport)
            data = _download(client, file, url, files, on_event, retries, backoff)
            got = _sha256(data)
            if want and got != want:
                raise _mismatch(file.name, url, got, want, entry)
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomic(cached, data)
            if not entry or not entry.get("sha256"):
                index.pin(
                    file.name, {"sha256": got, "url": url, "size": len(data), "fetched": _now()}
                )
                # a concurrent knwalk may have pinned first: its pin rules
                entry = index.read().get(file.name)
                pinned = (entry or {}).get("sha256")
                if pinned and pinned != got:
                    raise _mismatch(file.name, url, got, str(pinned), entry)
            out.append(Fetched(file.name, url, got, _decode(file.name, data), False, want))
    finally:
        if client is not None:
            client.close()
    return out


def _read_local(source: Source, file: ManifestFile) -> Fetched:
    path = Path(source.location) / file.name
    safeload.check_file(
        path,
        label=f"--manifests {source.location}: {file.name}",
        hint=f"put the release file there (from {file.url})",
        limit=MAX_BYTES,
    )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KnwalkError(
            f"--manifests {source.location} has no {file.name}",
            f"put the release file there (from {file.url})",
        ) from None
    except OSError as exc:
        raise KnwalkError(f"cannot read {path}: {exc}", "check the file's permissions") from exc
    got = _sha256(data)
    want = file.sha256
    if want and got != want:
        raise _mismatch(file.name, str(path), got, want, None)
    return Fetched(file.name, str(path), got, _decode(file.name, data), False, want)


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KnwalkError(
            f"{name} is not UTF-8 text (byte {exc.start})",
            "is it the release YAML file? download it again",
        ) from None


def _client(transport: Any) -> Any:
    import httpx

    return httpx.Client(
        timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
        follow_redirects=True,
        headers={"User-Agent": f"knwalk/{__version__}"},
        transport=transport,
    )


def _download(
    client: Any,
    file: ManifestFile,
    url: str,
    files: Sequence[ManifestFile],
    on_event: Callable[[DownloadEvent], None] | None,
    retries: int,
    backoff: float,
) -> bytes:
    """GET ``url`` with retries (timeouts, dropped connections, 429/5xx); never retries a 4xx."""
    import httpx

    attempt = 0
    while True:
        why = ""
        try:
            with client.stream("GET", url) as response:
                if response.status_code == 200:
                    return _read_body(response, file, url, on_event)
                status = f"{response.status_code} {response.reason_phrase}".strip()
                if response.status_code not in RETRY_STATUSES or attempt >= retries:
                    raise KnwalkError(
                        f"cannot download {file.name}: {url} answered {status}",
                        (
                            "check the release with --serving-version; "
                            if response.status_code == 404
                            else ""
                        )
                        + _download_hint(files),
                    )
                why = status
        except httpx.ConnectError as exc:
            # nobody listens, or the name does not resolve: retrying will not help
            raise KnwalkError(
                f"cannot download {file.name} from {url}: connection failed ({_reason(exc)})",
                _download_hint(files),
            ) from None
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            if attempt >= retries:
                raise KnwalkError(
                    f"cannot download {file.name} from {url}: {_reason(exc)} "
                    f"(after {attempt + 1} attempts)",
                    _download_hint(files),
                ) from None
            why = _reason(exc)
        delay = min(BACKOFF_CAP, backoff * 2**attempt) * random.uniform(0.5, 1.0)
        if on_event:
            on_event(DownloadEvent(file.name, url, "retry", detail=f"{why}; retrying"))
        time.sleep(delay)
        attempt += 1


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_body(
    response: Any,
    file: ManifestFile,
    url: str,
    on_event: Callable[[DownloadEvent], None] | None,
) -> bytes:
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    if total is not None and total > MAX_BYTES:
        raise KnwalkError(
            f"{url} is {total} bytes, more than a release file can be ({MAX_BYTES})",
            "check the URL (--manifests) points at the release files",
        )
    if on_event:
        on_event(DownloadEvent(file.name, url, "start", 0, total))
    chunks: list[bytes] = []
    done = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        done += len(chunk)
        if done > MAX_BYTES:
            raise KnwalkError(
                f"{url} is more than {MAX_BYTES} bytes, more than a release file can be",
                "check the URL (--manifests) points at the release files",
            )
        if on_event:
            on_event(DownloadEvent(file.name, url, "progress", done, total))
    if total is not None and done != total:
        raise KnwalkError(
            f"the download of {url} ended after {done} of {total} bytes",
            "run again; the connection was cut",
        )
    if on_event:
        on_event(DownloadEvent(file.name, url, "done", done, total or done))
    return b"".join(chunks)


# --------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class ManifestObject:
    """One object of a release file, as the file gives it."""

    body: Obj = field(compare=False, hash=False)
    api_version: str
    kind: str
    name: str
    namespace: str | None  # None for cluster-scoped objects (and namespaced ones without it)
    source: str  # file name
    index: int  # document index in the file

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.body.get("metadata") or {}).get("labels") or {})

    @property
    def ref(self) -> str:
        """``Kind namespace/name`` (``Kind name`` when cluster-scoped)."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.group, self.kind, self.namespace or "", self.name)

    @property
    def is_crd(self) -> bool:
        return self.kind == CRD_KIND and self.group == "apiextensions.k8s.io"

    def defines(self) -> tuple[str, str] | None:
        """For a CRD: (group, kind) of the resources it defines."""
        if not self.is_crd:
            return None
        spec = self.body.get("spec") or {}
        return str(spec.get("group") or ""), str((spec.get("names") or {}).get("kind") or "")

    def as_row(self) -> Obj:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "source": self.source,
        }


def parse_documents(name: str, text: str) -> list[ManifestObject]:
    """The objects of a multi-document YAML file (``kind: List`` items flattened)."""
    docs = safeload.load_all(text, label=name, hint="download the release file again", fast=True)
    out: list[ManifestObject] = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        items = doc.get("items") if isinstance(doc, dict) and doc.get("kind") == "List" else [doc]
        for item in items or []:
            out.append(_object(name, i, item))
    return out


def _object(name: str, index: int, doc: object) -> ManifestObject:
    def bad(why: str) -> KnwalkError:
        return KnwalkError(
            f"{name}, document {index + 1}: {why}", "is it a Kubernetes manifest? check the file"
        )

    if not isinstance(doc, dict):
        raise bad(f"expected an object, found {type(doc).__name__}")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    meta = doc.get("metadata")
    if not isinstance(api_version, str) or not api_version:
        raise bad("apiVersion is missing")
    if not isinstance(kind, str) or not kind:
        raise bad("kind is missing")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise bad(f"{kind} has no metadata.name")
    namespace = meta.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise bad(f"{kind} {meta['name']}: metadata.namespace is not a string")
    return ManifestObject(doc, api_version, kind, meta["name"], namespace or None, name, index)


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Step:
    """One ``kubectl apply`` of the docs: a title, its objects in apply order, and a command."""

    name: str
    title: str
    objects: tuple[ManifestObject, ...]
    kubectl: str
    manager: str = FIELD_MANAGER
    #: a step applied after the waits (the sslip.io domain needs the gateway's address)
    after_waits: bool = False

    @property
    def crds(self) -> tuple[ManifestObject, ...]:
        return tuple(o for o in self.objects if o.is_crd)


@dataclass(frozen=True)
class Plan:
    """Everything ``install`` applies, in order, and what it then waits for."""

    release: Release
    ingress: str
    domain: str
    source: Source
    files: tuple[Fetched, ...]
    steps: tuple[Step, ...]
    ingress_class: str
    gateway: tuple[str, str]  # (namespace, Service)
    wait_namespaces: tuple[str, ...]

    @property
    def objects(self) -> list[ManifestObject]:
        return [o for s in self.steps for o in s.objects]

    def document(self) -> Obj:
        """The plan as data (``--dry-run -o json|yaml``)."""
        return {
            "servingVersion": self.release.serving,
            "ingress": self.ingress,
            "ingressVersion": self.release.ingress_version(self.ingress),
            "istioVersion": self.release.istio if self.ingress == "istio" else None,
            "domain": self.domain,
            "source": self.source.describe(),
            "files": [
                {"name": f.name, "from": f.origin, "sha256": f.sha256, "cached": f.cached}
                for f in self.files
            ],
            "steps": [
                {
                    "name": s.name,
                    "title": s.title,
                    "fieldManager": s.manager,
                    "kubectl": s.kubectl,
                    "objects": [o.as_row() for o in s.objects],
                }
                for s in self.steps
            ],
            "waits": {
                "deploymentsIn": list(self.wait_namespaces),
                "gateway": "/".join(self.gateway),
            },
        }


#: within a step: namespaces, then CRDs, then everything else (file order kept)
def _apply_order(objs: Iterable[ManifestObject]) -> tuple[ManifestObject, ...]:
    def rank(o: ManifestObject) -> int:
        if o.kind == "Namespace" and o.api_version == "v1":
            return 0
        return 1 if o.is_crd else 2

    return tuple(sorted(objs, key=rank))


def _kubectl(prefix: str, target: str, *, selector: str = "", force: bool = False) -> str:
    parts = [prefix, "apply", "--server-side", f"--field-manager={FIELD_MANAGER}"]
    if force:
        parts.append("--force-conflicts")
    if selector:
        parts += ["-l", selector]
    parts += ["-f", shlex.quote(target)]
    return " ".join(parts)


def settings_configmap(name: str, data: Mapping[str, str]) -> ManifestObject:
    """The apply configuration knwalk sends for a setting in a knative-serving ConfigMap."""
    body: Obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": SERVING_NAMESPACE},
        "data": dict(data),
    }
    return ManifestObject(body, "v1", "ConfigMap", name, SERVING_NAMESPACE, "knwalk", 0)


def _settings_command(prefix: str, obj: ManifestObject, force: bool) -> str:
    """The same server-side apply with kubectl: the apply configuration piped in as JSON."""
    body = json.dumps(obj.body, separators=(",", ":"))
    flags = f"--server-side --field-manager={SETTINGS_MANAGER}"
    if force:
        flags += " --force-conflicts"
    return f"echo {shlex.quote(body)} | {prefix} apply {flags} -f -"


def domain_step(domain: str, kubectl_prefix: str = "kubectl", force: bool = False) -> Step:
    """The ``config-domain`` setting: ``{DOMAIN: ""}`` (``<gateway-ip>.sslip.io`` for sslip.io)."""
    shown = "<gateway-ip>.sslip.io" if domain == SSLIP else domain
    obj = settings_configmap("config-domain", {shown: ""})
    return Step(
        "domain",
        f"Domain {shown}",
        (obj,),
        _settings_command(kubectl_prefix, obj, force),
        manager=SETTINGS_MANAGER,
        after_waits=domain == SSLIP,
    )


def sslip_domain(address: str) -> str:
    """``<ip>.sslip.io`` for an IPv4 gateway address; a hostname or IPv6 cannot be used."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise KnwalkError(
            f"--domain sslip.io needs the gateway's IPv4 address, but it has hostname {address}",
            "use a domain you control with --domain DOMAIN (a CNAME to that hostname)",
        ) from None
    if ip.version != 4:
        raise KnwalkError(
            f"--domain sslip.io needs an IPv4 gateway address, not {address}",
            "use a domain you control with --domain DOMAIN",
        )
    return f"{address}.{SSLIP}"


def plan_install(
    release: Release,
    ingress: str,
    domain: str,
    source: Source,
    files: Sequence[Fetched],
    *,
    kubectl_prefix: str = "kubectl",
    force_conflicts: bool = False,
) -> Plan:
    """Order the release files' objects into the steps the Knative docs use."""
    by_name = {f.name: parse_documents(f.name, f.text) for f in files}
    target: dict[str, str] = {}
    for f in release.files(ingress):
        target[f.name] = source.url_of(f)
        if f.name not in by_name:
            raise KnwalkError(f"{f.name} was not fetched", "pass all the release files")

    def cmd(name: str, selector: str = "") -> str:
        return _kubectl(kubectl_prefix, target[name], selector=selector, force=force_conflicts)

    steps: list[Step] = []
    if ingress == "istio":
        istio = by_name[ISTIO]
        crds = [o for o in istio if o.labels.get(CRD_INSTALL_LABEL) == "true"]
        rest = [o for o in istio if o.labels.get(CRD_INSTALL_LABEL) != "true"]
        steps.append(
            Step(
                "istio-crds",
                f"Istio CRDs ({CRD_INSTALL_LABEL}=true)",
                _apply_order(crds),
                cmd(ISTIO, f"{CRD_INSTALL_LABEL}=true"),
            )
        )
        version = f" {release.istio}" if release.istio else ""
        steps.append(Step("istio", f"Istio{version}", _apply_order(rest), cmd(ISTIO)))
    steps.append(
        Step(
            "serving-crds",
            "Knative Serving CRDs",
            _apply_order(by_name[SERVING_CRDS]),
            cmd(SERVING_CRDS),
        )
    )
    steps.append(
        Step(
            "serving-core",
            f"Knative Serving {release.serving}",
            _apply_order(by_name[SERVING_CORE]),
            cmd(SERVING_CORE),
        )
    )
    net_file = NET_ISTIO if ingress == "istio" else KOURIER
    steps.append(
        Step(
            "net-istio" if ingress == "istio" else "kourier",
            f"{'net-istio' if ingress == 'istio' else 'Kourier'} "
            f"{release.ingress_version(ingress)}",
            _apply_order(by_name[net_file]),
            cmd(net_file),
        )
    )
    klass, gw_ns, gw_name = INGRESS_CLASSES[ingress]
    network = settings_configmap("config-network", {"ingress-class": klass})
    steps.append(
        Step(
            "ingress-class",
            f"Ingress class {klass}",
            (network,),
            _settings_command(kubectl_prefix, network, force_conflicts),
            manager=SETTINGS_MANAGER,
        )
    )
    if domain != NO_DOMAIN:
        steps.append(domain_step(domain, kubectl_prefix, force_conflicts))
    steps = _without_repeats(steps)
    return Plan(
        release=release,
        ingress=ingress,
        domain=domain,
        source=source,
        files=tuple(files),
        steps=tuple(steps),
        ingress_class=klass,
        gateway=(gw_ns, gw_name),
        wait_namespaces=tuple(dict.fromkeys((SERVING_NAMESPACE, gw_ns))),
    )


def _without_repeats(steps: Sequence[Step]) -> list[Step]:
    """Drop an object a previous step already applied with the same content.

    serving-core.yaml repeats the CRDs of serving-crds.yaml: applying them twice
    would be a no-op request. The same object with *different* content in two
    files means the files are not from one release.
    """
    seen: dict[tuple[str, str, str, str], ManifestObject] = {}
    out: list[Step] = []
    for step in steps:
        if step.manager != FIELD_MANAGER:
            out.append(step)
            continue
        kept: list[ManifestObject] = []
        for obj in step.objects:
            first = seen.get(obj.key)
            if first is None:
                seen[obj.key] = obj
                kept.append(obj)
            elif first.body != obj.body:
                raise KnwalkError(
                    f"{obj.ref} is in both {first.source} and {obj.source}, with different content",
                    "are the files from one release? download them again",
                )
        out.append(dataclasses.replace(step, objects=tuple(kept)))
    return out
