"""``config-network``'s host templates and ``config-domain``'s domains, as Knative reads
and validates them (knative.dev/networking ``pkg/config``, knative/serving
``pkg/reconciler/route/config/domain.go`` and ``pkg/reconciler/route/domains``, v1.23).

* :func:`network_config_error` / :func:`domain_config_error`: what
  ``NewConfigFromMap`` / ``NewDomainFromConfigMap`` say of a ConfigMap's data (the
  config webhook denies an edit with it; the controllers keep their last good config).
* :class:`NetworkSettings`: the two parsed, and :meth:`NetworkSettings.route` the hosts
  of one Route under them (:class:`RouteNames`): its URL's host from ``domain-template``
  (``{{.Name}}.{{.Namespace}}.{{.Domain}}``), a tag's hostname from ``tag-template``
  (``{{.Tag}}-{{.Name}}``), each checked as a fully qualified domain name, else
  :class:`DomainNameError` with Knative's ``domain name error: ...`` message.

Templates are Go ``text/template``; :mod:`kn_walk.knative_rules.gotemplate` renders the
part of it Knative documents and refuses the rest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kn_walk.goformat import go_json_kind, go_quote
from kn_walk.knative_rules import gotemplate
from kn_walk.knative_rules.gotemplate import GoTemplate, Struct, TemplateError
from kn_walk.knative_rules.hosts import CLUSTER_LOCAL_DOMAIN, cluster_local_hosts
from kn_walk.knative_rules.labels import CLUSTER_LOCAL, VISIBILITY_LABEL
from kn_walk.knative_rules.names import (
    fully_qualified_domain_name_error,
)

CONFIG_NETWORK = "config-network"
CONFIG_DOMAIN = "config-domain"
DOMAIN_TEMPLATE_KEY = "domain-template"
TAG_TEMPLATE_KEY = "tag-template"
DEFAULT_DOMAIN_TEMPLATE = "{{.Name}}.{{.Namespace}}.{{.Domain}}"
DEFAULT_TAG_TEMPLATE = "{{.Tag}}-{{.Name}}"
#: the key of every Knative ConfigMap's documentation block (``configmap.ExampleKey``)
EXAMPLE_KEY = "_example"

DOMAIN_VALUES = "config.DomainTemplateValues"
TAG_VALUES = "config.TagTemplateValues"


class DomainNameError(ValueError):
    """Knative's ``ErrDomainName``: the Route fails with reason ``ErrorConfig``."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"domain name error: {detail}")


# ----------------------------------------------------------------- config-network
def _domain_values(
    name: str,
    namespace: str,
    domain: str,
    annotations: Mapping[str, str] | None,
    labels: Mapping[str, str] | None,
) -> Struct:
    fields = (
        ("Name", name),
        ("Namespace", namespace),
        ("Domain", domain),
        ("Annotations", None if annotations is None else dict(annotations)),
        ("Labels", None if labels is None else dict(labels)),
    )
    return Struct(DOMAIN_VALUES, fields)


def _tag_values(name: str, tag: str) -> Struct:
    return Struct(TAG_VALUES, (("Name", name), ("Tag", tag)))


# url.Parse of "https://" + a rendered domain template (what checkDomainTemplate asks)
_HOST_OK = frozenset("!$&'()*+,;=:[]<>\"-_.~")
_USERINFO_OK = frozenset("-._:~!$&'()*+,;=%@")
_PATH_OK = frozenset("-_.~$&+,/:;=@!'()*")


def _valid_port(colon_port: str) -> bool:
    return colon_port == "" or (
        colon_port[0] == ":"
        and colon_port[1:].isascii()
        and (colon_port[1:] == "" or colon_port[1:].isdigit())
    )


def _unescape_error(text: str, *, host: bool) -> str | None:
    """Go's ``unescape`` errors for a host or path: bad ``%`` escapes, and characters a
    host may not hold."""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            esc = text[i : i + 3]
            if len(esc) < 3 or not all(c in "0123456789abcdefABCDEF" for c in esc[1:]):
                return f"invalid URL escape {go_quote(esc)}"
            if host and esc != "%25":
                return f"invalid URL escape {go_quote(esc)}"
            i += 3
            continue
        if host and ord(ch) < 0x80 and not ch.isalnum() and ch not in _HOST_OK:
            return f"invalid character {go_quote(ch)} in host name"
        i += 1
    return None


def _https_url_error(rendered: str) -> str | None:
    """``checkDomainTemplate``'s checks of ``url.Parse("https://" + rendered)``."""
    raw = "https://" + rendered
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        return f"parse {go_quote(raw)}: net/url: invalid control character in URL"
    rest = raw.split("#", 1)[0][len("https:") :]
    if rest.endswith("?") and rest.count("?") == 1:
        rest, query, force = rest[:-1], "", True
    else:
        rest, _, query = rest.partition("?")
        force = False
    authority, path = rest[2:], ""
    if "/" in authority:
        authority, path = authority[: authority.index("/")], authority[authority.index("/") :]
    at = authority.rfind("@")
    host = authority[at + 1 :]
    if at >= 0 and any(not (c.isalnum() or c in _USERINFO_OK) for c in authority[:at]):
        return f"parse {go_quote(raw)}: net/url: invalid userinfo"
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return f"parse {go_quote(raw)}: missing ']' in host"
        if not _valid_port(host[end + 1 :]):
            return f"parse {go_quote(raw)}: invalid port {go_quote(host[end + 1 :])} after host"
        hostname = host[1:end]
    else:
        colon = host.rfind(":")
        if colon >= 0 and not _valid_port(host[colon:]):
            return f"parse {go_quote(raw)}: invalid port {go_quote(host[colon:])} after host"
        hostname = host[:colon] if colon >= 0 else host
    problem = _unescape_error(host, host=True) or _unescape_error(path, host=False)
    if problem:
        return f"parse {go_quote(raw)}: {problem}"
    if not hostname:
        return "empty hostname"
    escaped = "".join(
        c
        if (c.isalnum() and c.isascii()) or c in _PATH_OK or c == "%"
        else "".join(f"%{b:02X}" for b in c.encode())
        for c in path
    )
    request_uri = (escaped or "/") + ("?" + query if query or force else "")
    if request_uri != "/":
        return f"domain template has url path: {request_uri}"
    return None


def check_domain_template(template: GoTemplate) -> str | None:
    """``checkDomainTemplate``: a trial run must give a URL's host, with no path."""
    try:
        rendered = template.execute(_domain_values("foo", "bar", "baz.com", None, None))
    except TemplateError as exc:
        return str(exc)
    return _https_url_error(rendered)


def check_tag_template(template: GoTemplate) -> str | None:
    """``checkTagTemplate``: a trial run must not fail."""
    try:
        template.execute(_tag_values("foo", "v2"))
    except TemplateError as exc:
        return str(exc)
    return None


_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_BOOLS |= {"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}
_INT = re.compile(r"[+-]?[0-9]+")


def _bool_error(data: Mapping[str, str], key: str) -> str | None:
    raw = data.get(key)
    if raw is None or raw in _BOOLS:
        return None
    return f"strconv.ParseBool: parsing {go_quote(raw)}: invalid syntax"


def _int_error(data: Mapping[str, str], key: str) -> tuple[str | None, int | None]:
    raw = data.get(key)
    if raw is None:
        return None, None
    if not _INT.fullmatch(raw):
        return (
            f"failed to parse {go_quote(key)}: strconv.Atoi: parsing {go_quote(raw)}: "
            "invalid syntax",
            None,
        )
    value = int(raw)
    if not -(2**63) <= value < 2**63:
        return (
            f"failed to parse {go_quote(key)}: strconv.Atoi: parsing {go_quote(raw)}: "
            "value out of range",
            None,
        )
    return None, value


#: the keys ``NewConfigFromMap`` parses as numbers and booleans, in its order (legacy
#: names first, so the new ones take precedence)
_PARSED = (
    ("rolloutDuration", "int"),
    ("autocreateClusterDomainClaims", "bool"),
    ("rollout-duration", "int"),
    ("autocreate-cluster-domain-claims", "bool"),
    ("enable-mesh-pod-addressability", "bool"),
    ("internal-encryption", "bool"),
)


def _templates(data: Mapping[str, str]) -> tuple[str, str]:
    """The templates' text: the new keys take precedence over the legacy ones."""
    domain = data.get(DOMAIN_TEMPLATE_KEY, data.get("domainTemplate", DEFAULT_DOMAIN_TEMPLATE))
    tag = data.get(TAG_TEMPLATE_KEY, data.get("tagTemplate", DEFAULT_TAG_TEMPLATE))
    return domain, tag


def network_config_error(data: Mapping[str, str]) -> str | None:
    """What knative.dev/networking's ``NewConfigFromMap`` says of ``config-network``'s
    data, in its order: the first error, or None when Knative takes it."""
    rollout = None
    for key, kind in _PARSED:
        if kind == "int":
            error, value = _int_error(data, key)
            rollout = value if value is not None else rollout
        else:
            error = _bool_error(data, key)
        if error:
            return error
    if rollout is not None and rollout < 0:
        return f"rollout-duration must be a positive integer, but was {rollout}"
    domain_text, tag_text = _templates(data)
    for name, text, check in (
        (DOMAIN_TEMPLATE_KEY, domain_text, check_domain_template),
        (TAG_TEMPLATE_KEY, tag_text, check_tag_template),
    ):
        try:
            template = gotemplate.parse(name, text)
        except TemplateError as exc:
            return str(exc)
        error = check(template)
        if error:
            return error
    protocol = data.get("http-protocol", data.get("httpProtocol", ""))
    if protocol.lower() not in ("", "enabled", "disabled", "redirected"):
        return (
            f"httpProtocol {data.get('http-protocol', '')} in config-network ConfigMap "
            "is not supported"
        )
    for key in ("system-internal-tls", "cluster-local-domain-tls"):
        tls = data.get(key, "")
        if tls.lower() not in ("", "disabled", "enabled"):
            return f"{key} with value: {go_quote(tls)} in config-network ConfigMap is not supported"
    return None


# ------------------------------------------------------------------ config-domain
def _unmarshal_error(what: Any, into: str) -> str:
    return (
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
        f"{go_json_kind(what)} into {into}"
    )


def _load_yaml(text: str) -> Any:
    """``yaml.safe_load`` bounded as go-yaml is (no alias bombs); ValueError with
    sigs.k8s.io/yaml's message on a syntax error."""
    import yaml

    from kn_walk.safeload import _Recursive, expansion
    from kn_walk.yamlbounds import excessive_aliasing

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        written, expanded = expansion(node)
        if excessive_aliasing(expanded - written, expanded):
            raise ValueError(
                "error converting YAML to JSON: yaml: document contains excessive aliasing"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ValueError(f"error converting YAML to JSON: yaml: {where}{problem}") from None
    except _Recursive:
        raise ValueError(
            "error converting YAML to JSON: yaml: an alias refers to a value that contains it"
        ) from None
    finally:
        loader.dispose()


def _json_field(doc: Mapping[Any, Any], name: str) -> tuple[bool, Any]:
    """encoding/json's field match: exact name first, else case-insensitive."""
    if name in doc:
        return True, doc[name]
    for key, value in doc.items():
        if str(key).lower() == name:
            return True, value
    return False, None


def _selector(text: str) -> dict[str, str]:
    """One config-domain value: ``""`` or YAML ``selector: {label: value}`` (and
    ``type``). ValueError with Knative's message when it cannot be read."""
    doc = _load_yaml(text)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ValueError(_unmarshal_error(doc, "Go value of type config.domainInternalConfig"))
    found, kind = _json_field(doc, "type")
    if found and kind is not None and not isinstance(kind, str):
        raise ValueError(
            _unmarshal_error(kind, "Go struct field domainInternalConfig.type of type string")
        )
    found, sel = _json_field(doc, "selector")
    if not found or sel is None:
        return {}
    if not isinstance(sel, dict):
        raise ValueError(
            _unmarshal_error(
                sel, "Go struct field domainInternalConfig.selector of type map[string]string"
            )
        )
    out: dict[str, str] = {}
    for key, value in sel.items():
        label = _yaml_key(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(
                _unmarshal_error(
                    value, f"Go struct field domainInternalConfig.selector.{label} of type string"
                )
            )
        out[label] = value or ""
    return out


def _yaml_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


@dataclass(frozen=True)
class DomainConfig:
    """``config-domain``: each domain with its label selector."""

    domains: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

    @classmethod
    def from_data(cls, data: Mapping[str, str]) -> DomainConfig:
        """``NewDomainFromConfigMap``; ValueError with its message."""
        domains: dict[str, tuple[tuple[str, str], ...]] = {}
        has_default = False
        for key, value in data.items():
            if key == EXAMPLE_KEY:
                continue
            selector = _selector(str(value))
            has_default |= not selector
            domains[key] = tuple(sorted(selector.items()))
        if not has_default:
            domains[CLUSTER_LOCAL_DOMAIN] = ()
        return cls(tuple(sorted(domains.items())))

    def lookup(self, labels: Mapping[str, str]) -> str:
        """``LookupDomainForLabels``: the most specific selector that matches wins, the
        least domain among equals; cluster-local Routes get the cluster's domain."""
        if labels.get(VISIBILITY_LABEL) == CLUSTER_LOCAL:
            return CLUSTER_LOCAL_DOMAIN
        domain, specificity = "", -1
        for key, selector in self.domains:
            if any(labels.get(k) != v for k, v in selector) or len(selector) < specificity:
                continue
            if len(selector) > specificity or key < domain:
                domain, specificity = key, len(selector)
        return domain


def domain_config_error(data: Mapping[str, str]) -> str | None:
    """What ``NewDomainFromConfigMap`` says of ``config-domain``'s data, or None."""
    try:
        DomainConfig.from_data(data)
    except ValueError as exc:
        return str(exc)
    return None


# ------------------------------------------------------------------ a Route's hosts


@dataclass(frozen=True)
class NetworkSettings:
    """The two ConfigMaps as the Route reconciler holds them."""

    domain_template: str = DEFAULT_DOMAIN_TEMPLATE
    tag_template: str = DEFAULT_TAG_TEMPLATE
    domains: DomainConfig = DomainConfig(((CLUSTER_LOCAL_DOMAIN, ()),))

    @classmethod
    def from_data(
        cls, network: Mapping[str, str] | None, domain: Mapping[str, str] | None
    ) -> NetworkSettings:
        """ValueError with Knative's message when either is invalid."""
        error = network_config_error(network or {})
        if error:
            raise ValueError(error)
        domain_text, tag_text = _templates(network or {})
        return cls(domain_text, tag_text, DomainConfig.from_data(domain or {}))

    def route(self, meta: Mapping[str, Any]) -> RouteNames:
        return RouteNames(self, meta)


@dataclass(frozen=True)
class RouteNames:
    """One Route's hostnames and hosts (knative/serving's ``domains`` package)."""

    settings: NetworkSettings
    meta: Mapping[str, Any]

    @property
    def labels(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.meta.get("labels") or {}).items()}

    @property
    def domain(self) -> str:
        """The Route's domain from config-domain (``svc.cluster.local`` when local)."""
        return self.settings.domains.lookup(self.labels)

    @property
    def cluster_local(self) -> bool:
        """The Route's visibility: cluster-local when its domain is the cluster's."""
        return self.domain == CLUSTER_LOCAL_DOMAIN

    def hostname(self, tag: str = "") -> str:
        """``HostnameFromTemplate``: the Route's name, or its tag's from tag-template."""
        name = str(self.meta.get("name") or "")
        if not tag:
            return name
        template = gotemplate.parse(TAG_TEMPLATE_KEY, self.settings.tag_template)
        try:
            return template.execute(_tag_values(name, tag))
        except TemplateError as exc:
            raise DomainNameError(f"error executing the TagTemplate: {exc}") from None

    def host(self, hostname: str, *, cluster_local: bool | None = None) -> str:
        """``DomainNameFromTemplate`` for the Route's visibility (or the one given):
        cluster-local hosts use the default template on the cluster's domain."""
        local = self.cluster_local if cluster_local is None else cluster_local
        labels = self.labels
        if local:
            labels[VISIBILITY_LABEL] = CLUSTER_LOCAL
        else:
            labels.pop(VISIBILITY_LABEL, None)
        annotations = self.meta.get("annotations")
        text = DEFAULT_DOMAIN_TEMPLATE if local else self.settings.domain_template
        values = _domain_values(
            hostname,
            str(self.meta.get("namespace") or ""),
            self.settings.domains.lookup(labels),
            None if annotations is None else {str(k): str(v) for k, v in annotations.items()},
            labels,
        )
        try:
            host = gotemplate.parse(DOMAIN_TEMPLATE_KEY, text).execute(values)
        except TemplateError as exc:
            raise DomainNameError(f"error executing the DomainTemplate: {exc}") from None
        error = fully_qualified_domain_name_error("url", host)
        if error:
            raise DomainNameError(f"invalid domain name {go_quote(host)}: {error}")
        return host

    def url(self, hostname: str) -> str:
        """The ``http://`` URL of a hostname (no TLS is configured)."""
        return f"http://{self.host(hostname)}"

    def local_hosts(self, hostname: str) -> list[str]:
        """The hosts of the hostname's cluster-local Ingress rule."""
        return cluster_local_hosts(hostname, str(self.meta.get("namespace") or ""))
