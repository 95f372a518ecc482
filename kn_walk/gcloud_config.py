"""Where gcloud keeps its defaults, read without running gcloud: project, zone, region.

The rules follow the Cloud SDK's own code (``googlecloudsdk/core/config.py`` and
``core/configurations/named_configs.py`` in gcloud 528):

* the configuration directory is ``$CLOUDSDK_CONFIG``, else ``~/.config/gcloud``;
* the active configuration is named by ``$CLOUDSDK_ACTIVE_CONFIG_NAME``, else by the
  one-line file ``<dir>/active_config``, else it is ``default``;
* its properties live in the INI file ``<dir>/configurations/config_<name>``
  (sections ``[core]``, ``[compute]``, ...), over the installation-wide ones
  (``gcloud config set --installation``) in ``<SDK root>/properties`` of the SDK whose
  ``gcloud`` is on PATH;
* an environment variable ``CLOUDSDK_<SECTION>_<KEY>`` overrides the file, even when
  it is empty: the property is then unset (and an empty ``CLOUDSDK_CORE_PROJECT`` is
  refused, as gcloud refuses it).

Both files are read with :mod:`kn_walk.safeload`'s bounds: a properties file that is
not a regular file of at most 4 MiB (a FIFO, ``/dev/zero``) is refused with one line,
never read; an ``active_config`` that is not a small regular file counts as absent.

Nothing here imports google-auth or touches the network; :func:`resolve_project`
only calls ``google.auth.default()`` (through ``adc_project``) when every other
source is empty. ``GOOGLE_CLOUD_PROJECT`` is not a gcloud setting: it counts only
after all of gcloud's.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kn_walk import safeload
from kn_walk.errors import KnwalkError, UsageError

DEFAULT_CONFIG_NAME = "default"
#: what marks the root of a Cloud SDK (config.Paths.CLOUDSDK_STATE_DIR)
SDK_STATE_DIR = ".install"

_ZONE_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+-[a-z]$")
_REGION_RE = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")
# https://cloud.google.com/resource-manager/docs/creating-managing-projects: 6-30
# characters, lowercase letters, digits and hyphens, starting with a letter (domain-scoped
# project IDs look like "example.com:my-project").
_PROJECT_RE = re.compile(r"^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """gcloud's configuration directory: ``$CLOUDSDK_CONFIG`` or ``~/.config/gcloud``."""
    env = os.environ if environ is None else environ
    explicit = env.get("CLOUDSDK_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return Path("~").expanduser() / ".config" / "gcloud"


def active_config_name(environ: Mapping[str, str] | None = None) -> str:
    """``$CLOUDSDK_ACTIVE_CONFIG_NAME``, else the ``active_config`` file, else ``default``."""
    env = os.environ if environ is None else environ
    name = env.get("CLOUDSDK_ACTIVE_CONFIG_NAME", "").strip()
    if name:
        return name
    path = config_dir(env) / "active_config"
    try:  # one line: anything but a small regular file is as good as none
        name = safeload.read_text(path, label=str(path), hint="", limit=4096).strip()
    except (OSError, KnwalkError):
        name = ""
    return name or DEFAULT_CONFIG_NAME


def config_file(environ: Mapping[str, str] | None = None) -> Path:
    """The active configuration's properties file."""
    env = os.environ if environ is None else environ
    return config_dir(env) / "configurations" / f"config_{active_config_name(env)}"


def sdk_root(environ: Mapping[str, str] | None = None) -> Path | None:
    """The root of the Cloud SDK whose ``gcloud`` is on PATH: the directory above the
    real ``bin/gcloud`` that holds ``.install`` (as gcloud finds its own root), or None."""
    env = os.environ if environ is None else environ
    gcloud = shutil.which("gcloud", path=env.get("PATH", os.defpath))
    if gcloud is None:
        return None
    root = Path(os.path.realpath(gcloud)).parent.parent
    return root if (root / SDK_STATE_DIR).is_dir() else None


@dataclass(frozen=True)
class Properties:
    """gcloud properties as the active configuration and the environment set them."""

    values: Mapping[tuple[str, str], str]
    file: Path
    environ: Mapping[str, str]
    #: the installation-wide properties, below the configuration's
    installation: Mapping[tuple[str, str], str] = field(default_factory=dict)
    installation_file: Path | None = None

    def get(self, section: str, key: str) -> tuple[str, str] | None:
        """``(value, source)`` for ``section/key``: the environment first, then the
        active configuration, then the installation's properties.

        As in gcloud, a variable that is set overrides the file even when it is empty
        (``CLOUDSDK_COMPUTE_ZONE=`` unsets the configuration's zone).
        """
        var = f"CLOUDSDK_{section.upper()}_{key.upper()}"
        if var in self.environ:
            value = self.environ[var].strip()
            return (value, var) if value else None
        value = self.values.get((section, key), "").strip()
        if value:
            return value, f"gcloud configuration {self.file}"
        value = self.installation.get((section, key), "").strip()
        if value:
            return value, f"gcloud installation properties {self.installation_file}"
        return None


def _read_properties(path: Path, what: str) -> dict[tuple[str, str], str]:
    """An INI properties file; a missing file gives no values, a broken one an error."""
    parser = configparser.ConfigParser(interpolation=None)
    try:  # a regular file of at most 4 MiB: a FIFO or /dev/zero is refused, not read
        text = safeload.read_text(
            path,
            label=f"the {what} {safeload.shown(path)}",
            hint="fix or remove it, or pass --project and --zone explicitly",
        )
    except FileNotFoundError:
        text = ""
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        raise KnwalkError(
            f"the {what} {path} is not a valid properties file",
            "fix it with `gcloud config set ...`, or pass --project and --zone explicitly",
        ) from exc
    return {
        (section, key): value
        for section in parser.sections()
        for key, value in parser[section].items()
    }


def load(environ: Mapping[str, str] | None = None) -> Properties:
    """Read the active configuration and the installation's properties."""
    env = dict(os.environ if environ is None else environ)
    path = config_file(env)
    values = _read_properties(path, "gcloud configuration")
    root = sdk_root(env)
    installation_file = root / "properties" if root is not None else None
    installation = (
        _read_properties(installation_file, "gcloud installation properties")
        if installation_file is not None
        else {}
    )
    return Properties(values, path, env, installation, installation_file)


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class Resolved:
    """A value and where it came from (shown in summaries: "project p (from CLOUDSDK_CORE_PROJECT)").

    ``fallback`` marks a project taken from outside gcloud's own settings (gcloud would not
    use it): callers say so.
    """

    value: str
    source: str
    fallback: bool = False


PROJECT_HINT = "pass --project PROJECT, or run `gcloud config set project PROJECT`"
#: gcloud's reading of a boolean property (core/properties.py _GetBoolProperty)
_TRUE = ("1", "true", "on", "yes", "y")


def get_bool(props: Properties, section: str, key: str) -> bool:
    """A boolean gcloud property: true for 1/true/on/yes/y (any case), else false."""
    found = props.get(section, key)
    return found is not None and found[0].lower() in _TRUE


def check_project(project: str) -> str:
    if not _PROJECT_RE.match(project):
        raise UsageError(
            f"{project!r} is not a valid project ID",
            "project IDs are 6-30 lowercase letters, digits or hyphens, starting with a letter",
        )
    return project


def resolve_project(
    flag: str | None,
    props: Properties,
    adc_project: Callable[[], str | None] | None = None,
) -> Resolved:
    """The project as gcloud finds it, then what application default credentials name.

    gcloud's order: ``--project``, ``CLOUDSDK_CORE_PROJECT``, the active configuration's
    ``core/project`` (``CLOUDSDK_ACTIVE_CONFIG_NAME`` picks the configuration). gcloud
    ignores ``GOOGLE_CLOUD_PROJECT``; only when none of the above is set does knwalk use
    it, and then the project of application default credentials (``adc_project``, which
    runs ``google.auth.default()``; None skips it); those come back with ``fallback`` set.
    """
    if flag:
        return Resolved(check_project(flag), "--project")
    found = props.get("core", "project")
    if found is None and "CLOUDSDK_CORE_PROJECT" in props.environ:
        raise UsageError(  # gcloud: "The project property is set to the empty string"
            "CLOUDSDK_CORE_PROJECT is set to the empty string, which is not a project",
            "unset it (`unset CLOUDSDK_CORE_PROJECT`) or set it to a project ID, or pass "
            "--project PROJECT",
        )
    if found is not None:
        return Resolved(check_project(found[0]), found[1])
    unset = "no gcloud project is set"
    env_value = props.environ.get("GOOGLE_CLOUD_PROJECT", "").strip()
    if env_value:
        return Resolved(check_project(env_value), f"GOOGLE_CLOUD_PROJECT; {unset}", True)
    if adc_project is not None:
        value = adc_project()
        if value:
            return Resolved(check_project(value), f"application default credentials; {unset}", True)
    raise UsageError("no Google Cloud project is set", PROJECT_HINT)


def check_zone(zone: str) -> str:
    if not _ZONE_RE.match(zone):
        raise UsageError(
            f"{zone!r} is not a zone name",
            "zones look like us-central1-a; for a region such as us-central1 use --region",
        )
    return zone


def check_region(region: str) -> str:
    if not _REGION_RE.match(region):
        raise UsageError(
            f"{region!r} is not a region name",
            "regions look like us-central1; for a zone such as us-central1-a use --zone",
        )
    return region


def check_location(location: str) -> str:
    if not (_ZONE_RE.match(location) or _REGION_RE.match(location)):
        raise UsageError(
            f"{location!r} is neither a zone nor a region",
            "zones look like us-central1-a, regions like us-central1",
        )
    return location


def is_region(location: str) -> bool:
    return bool(_REGION_RE.match(location))


def resolve_location(
    *,
    zone: str | None,
    region: str | None,
    location: str | None = None,
    props: Properties,
    default: str | None,
) -> Resolved:
    """A zone or region: the flags, then gcloud's ``compute/zone``, then ``compute/region``.

    As in gcloud (``container_command_util.GetZoneOrRegion``) the zone property wins
    over the region property. ``default`` (knwalk's walkthrough zone) comes last; None
    makes a missing location an error.
    """
    given = [
        (n, v) for n, v in (("--zone", zone), ("--region", region), ("--location", location)) if v
    ]
    if len(given) > 1:
        raise UsageError(
            f"{' and '.join(n for n, _ in given)} cannot be used together",
            "pass one of --zone (zonal cluster), --region (regional cluster) or --location",
        )
    if zone:
        return Resolved(check_zone(zone), "--zone")
    if region:
        return Resolved(check_region(region), "--region")
    if location:
        return Resolved(check_location(location), "--location")
    for key in ("zone", "region"):
        found = props.get("compute", key)
        if found is not None:
            return Resolved(check_location(found[0]), found[1])
    if default is not None:
        return Resolved(default, "knwalk default")
    raise UsageError(
        "no zone or region is set",
        "pass --zone ZONE or --region REGION, or run `gcloud config set compute/zone ZONE`",
    )
