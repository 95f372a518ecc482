"""config-network's host templates and config-domain's domains, pinned to upstream's tables.

Sources (Knative v1.23): knative.dev/networking ``pkg/config/config_test.go``
(``TestOurConfig``'s domain/tag template cases, ``TestAnnotationsInDomainTemplate``,
``TestLabelsInDomainTemplate``); knative/serving
``pkg/reconciler/route/domains/domains_test.go`` (``TestDomainNameFromTemplate``,
``TestGetAllDomainsAndTags``, ``TestGetDomainsForVisibility``) and
``pkg/reconciler/route/config/domain_test.go`` (``TestNewConfig``,
``TestNewConfigBadYaml``, ``TestLookupDomainForLabels``). Messages are Go's
(text/template, net/url, apimachinery's IsFullyQualifiedDomainName).
"""

from __future__ import annotations

import pytest

from kn_walk.knative_rules import gotemplate
from kn_walk.knative_rules.gotemplate import Struct, TemplateError
from kn_walk.knative_rules.network_config import (
    DomainConfig,
    DomainNameError,
    NetworkSettings,
    domain_config_error,
    network_config_error,
)

# --------------------------------------------------------------- config-network


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{.Name}}.{{.Namespace}}.{{.Domain}}", None),
        ("{{.Namespace}}.{{.Name}}.{{.Domain}}", None),
        # "network configuration with blank domain template"
        ("", "empty hostname"),
        # "bad domain template": missing a closing brace
        (
            "{{.Namespace}.{{.Name}}.{{.Domain}}",
            'template: domain-template:1: unexpected "}" in operand',
        ),
        # "bad url": paths are disallowed
        ("{{.Domain}}/{{.Namespace}}/{{.Name}}.", "domain template has url path: /bar/foo."),
        # "bad variable"
        (
            "{{.Name}}.{{.NAmespace}}.{{.Domain}}",
            'template: domain-template:1:12: executing "domain-template" at <.NAmespace>: '
            "can't evaluate field NAmespace in type config.DomainTemplateValues",
        ),
        # the documented forms (config-network.yaml's _example)
        ('{{.Name}}-{{.Namespace}}.{{ index .Annotations "sub"}}.{{.Domain}}', None),
        ('{{.Name}}.{{ index .Labels "sub"}}.{{.Domain}}', None),
        # a field of a nil map prints <no value>, which is no host (index gives "")
        (
            "{{.Name}}.{{.Annotations.sub}}.{{.Domain}}",
            'parse "https://foo.<no value>.baz.com": invalid character " " in host name',
        ),
        ("{{.Name}}.{{.Domain}}?x", "domain template has url path: /?x"),
        (
            "{{.Name}}.{{.Domain}}:http",
            'parse "https://foo.baz.com:http": invalid port ":http" after host',
        ),
        ("{{.Name", "template: domain-template:1: unclosed action"),
        ("{{}}", "template: domain-template:1: missing value for command"),
        ("{{lower .Name}}", 'template: domain-template:1: function "lower" not defined'),
        ("{{/* a comment */}}{{.Name}}.{{.Domain}}", None),
    ],
)
def test_domain_template_validation(template: str, error: str | None) -> None:
    assert network_config_error({"domain-template": template}) == error


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{{.Tag}}-{{.Name}}", None),
        ("{{.Name}}-{{.Tag}}", None),
        ("{{.Tag}}-dot-{{.Name}}", None),
        (
            "{{.NNName}}-{{.Tag}}",
            'template: tag-template:1:2: executing "tag-template" at <.NNName>: '
            "can't evaluate field NNName in type config.TagTemplateValues",
        ),
        ("{{.Tag}-{{.Name}}", 'template: tag-template:1: unexpected "}" in operand'),
    ],
)
def test_tag_template_validation(template: str, error: str | None) -> None:
    assert network_config_error({"tag-template": template}) == error


def test_new_keys_take_precedence_over_legacy_ones() -> None:
    """``cm.AsString("domainTemplate")`` first, then ``domain-template``."""
    bad = "{{.Name}"
    assert network_config_error({"domainTemplate": bad, "domain-template": "{{.Name}}.x"}) is None
    assert network_config_error({"domainTemplate": bad}) is not None
    settings = NetworkSettings.from_data({"tagTemplate": "{{.Name}}-{{.Tag}}"}, {"ex.com": ""})
    assert settings.route({"name": "r", "namespace": "n"}).hostname("t") == "r-t"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"http-protocol": "Redirected"}, None),
        (
            {"http-protocol": "under-the-bridge"},
            "httpProtocol under-the-bridge in config-network ConfigMap is not supported",
        ),
        (
            {"system-internal-tls": "wrong"},
            'system-internal-tls with value: "wrong" in config-network ConfigMap is not supported',
        ),
        (
            {"cluster-local-domain-tls": "wrong"},
            'cluster-local-domain-tls with value: "wrong" in config-network ConfigMap is not '
            "supported",
        ),
        ({"rollout-duration": "-1"}, "rollout-duration must be a positive integer, but was -1"),
        (
            {"rollout-duration": "1s"},
            'failed to parse "rollout-duration": strconv.Atoi: parsing "1s": invalid syntax',
        ),
        (
            {"enable-mesh-pod-addressability": "yes"},
            'strconv.ParseBool: parsing "yes": invalid syntax',
        ),
        ({"enable-mesh-pod-addressability": "True", "internal-encryption": "0"}, None),
    ],
)
def test_other_network_keys_are_validated_as_upstream(
    data: dict[str, str], error: str | None
) -> None:
    assert network_config_error(data) == error


# -------------------------------------------------------------------- templates


@pytest.mark.parametrize(
    "template",
    [
        "{{if .Name}}x{{end}}",
        "{{range .Labels}}x{{end}}",
        "{{.Name | printf}}",
        "{{$x := .Name}}",
        "{{printf .Name}}",
        "{{(.Name)}}",
    ],
)
def test_what_the_renderer_does_not_run_is_refused_with_a_clear_message(template: str) -> None:
    with pytest.raises(TemplateError, match="which the sandbox does not run"):
        gotemplate.parse("domain-template", template)


def test_trim_markers_and_literals_render_as_go() -> None:
    values = Struct("T", (("Name", "n"), ("Labels", {"b": "2", "a": "1"})))
    render = gotemplate.parse("t", '{{- .Name -}} . {{"x"}}{{7}}{{.Labels}}').execute
    assert render(values) == "n. x7map[a:1 b:2]"
    assert gotemplate.parse("t", "{{.Labels.a}}/{{.Labels.zz}}").execute(values) == "1/<no value>"
    with pytest.raises(TemplateError) as exc:
        gotemplate.parse("t", '{{index .Name "k"}}').execute(values)
    assert str(exc.value) == (
        'template: t:1:2: executing "t" at <index .Name "k">: error calling index: '
        "cannot index slice/array with type string"
    )


# ------------------------------------------------------- a Route's hosts (domains)

_META = {
    "name": "myroute",
    "namespace": "default",
    "labels": {"route": "myapp", "bus": "mybus"},
    "annotations": {"sub": "mysub"},
}
_DOMAINS = {"example.com": "", "another-example.com": "selector:\n  app: prod\n"}


@pytest.mark.parametrize(
    ("template", "local", "want"),
    [
        ("{{.Name}}.{{.Namespace}}.{{.Domain}}", False, "test-name.default.example.com"),
        ("{{.Name}}-{{.Namespace}}.{{.Domain}}", False, "test-name-default.example.com"),
        ("{{.Name}}-{{.Namespace}}.{{.Domain}}", True, "test-name.default.svc.cluster.local"),
        ("{{.Name}}.{{.Domain}}", False, "test-name.example.com"),
        ("{{.Name}}", False, None),  # Too Short: at least two segments
        (
            '{{.Name}}.{{ index .Annotations "sub"}}.{{.Domain}}',
            False,
            "test-name.mysub.example.com",
        ),
        ('{{.Name}}.{{ index .Labels "bus"}}.{{.Domain}}', False, "test-name.mybus.example.com"),
        ("{{.Name}}.{{.NNNamespace}}.{{.Domain}}", False, None),  # BadVarName
        ("{{.Name}}.{{.Namespace}}.{{.Domain}}.Foo", False, None),  # Invalid domain name
    ],
)
def test_domain_name_from_template(template: str, local: bool, want: str | None) -> None:
    settings = NetworkSettings(template, "{{.Tag}}-{{.Name}}", DomainConfig.from_data(_DOMAINS))
    meta = dict(_META, labels=dict(_META["labels"]))  # type: ignore[arg-type]
    if local:
        meta["labels"]["networking.knative.dev/visibility"] = "cluster-local"  # type: ignore[index]
    names = settings.route(meta)
    if want is None:
        with pytest.raises(DomainNameError, match=r"^domain name error: "):
            names.host("test-name")
    else:
        assert names.host("test-name") == want


def test_domain_name_errors_carry_knatives_messages() -> None:
    def error(template: str) -> str:
        settings = NetworkSettings(template, "{{.Tag}}-{{.Name}}", DomainConfig.from_data(_DOMAINS))
        with pytest.raises(DomainNameError) as exc:
            settings.route(_META).host("test-name")
        return str(exc.value)

    assert error("{{.Name}}") == (
        'domain name error: invalid domain name "test-name": url: Invalid value: "test-name": '
        "should be a domain with at least two segments separated by dots"
    )
    assert error("{{.Name}}.{{.NNNamespace}}.{{.Domain}}") == (
        "domain name error: error executing the DomainTemplate: template: domain-template:1:12: "
        'executing "domain-template" at <.NNNamespace>: can\'t evaluate field NNNamespace in '
        "type config.DomainTemplateValues"
    )
    long = "-".join(["test-name"] * 7)
    assert error("-".join(["{{.Name}}"] * 7) + ".{{.Domain}}") == (
        f'domain name error: invalid domain name "{long}.example.com": url: Invalid value: '
        f'"{long}": must be no more than 63 characters'
    )


@pytest.mark.parametrize(
    ("domain_template", "tag_template", "want"),
    [
        (  # happy case
            "{{.Name}}.{{.Namespace}}.{{.Domain}}",
            "{{.Name}}-{{.Tag}}",
            {
                "myroute-target-1.default.example.com": "target-1",
                "myroute-target-2.default.example.com": "target-2",
                "myroute.default.example.com": "",
            },
        ),
        (  # another happy case
            "{{.Name}}.{{.Namespace}}.{{.Domain}}",
            "{{.Tag}}-{{.Name}}",
            {
                "target-1-myroute.default.example.com": "target-1",
                "target-2-myroute.default.example.com": "target-2",
                "myroute.default.example.com": "",
            },
        ),
        (  # or appengine style
            "{{.Name}}.{{.Namespace}}.{{.Domain}}",
            "{{.Tag}}-dot-{{.Name}}",
            {
                "target-1-dot-myroute.default.example.com": "target-1",
                "target-2-dot-myroute.default.example.com": "target-2",
                "myroute.default.example.com": "",
            },
        ),
        ("{{.NNName}}.{{.Namespace}}.{{.Domain}}", "{{.Name}}-{{.Tag}}", None),
        ("{{.Name}}.{{.Namespace}}.{{.Domain}}", "{{.NNName}}-{{.Tag}}", None),
        ("{{.Name}}.{{.Namespace}}.{{.Domain}}", "Foo.{{.Name}}-{{.Tag}}", None),
    ],
)
def test_get_all_domains_and_tags(
    domain_template: str, tag_template: str, want: dict[str, str] | None
) -> None:
    settings = NetworkSettings(domain_template, tag_template, DomainConfig.from_data(_DOMAINS))
    names = settings.route({"name": "myroute", "namespace": "default", "labels": {"route": "a"}})

    def all_domains() -> dict[str, str]:
        return {names.host(names.hostname(tag)): tag for tag in ("", "target-1", "target-2")}

    if want is None:
        with pytest.raises(DomainNameError):
            all_domains()
    else:
        assert all_domains() == want


@pytest.mark.parametrize(
    ("tag", "local", "primary", "expanded"),
    [
        (
            "",
            True,
            "myroute.default.svc.cluster.local",
            {"myroute.default", "myroute.default.svc", "myroute.default.svc.cluster.local"},
        ),
        ("", False, "myroute.default.example.com", {"myroute.default.example.com"}),
        (
            "test",
            True,
            "myroute-test.default.svc.cluster.local",
            {
                "myroute-test.default",
                "myroute-test.default.svc",
                "myroute-test.default.svc.cluster.local",
            },
        ),
        ("test", False, "myroute-test.default.example.com", {"myroute-test.default.example.com"}),
    ],
)
def test_get_domains_for_visibility(
    tag: str, local: bool, primary: str, expanded: set[str]
) -> None:
    settings = NetworkSettings(
        "{{.Name}}.{{.Namespace}}.{{.Domain}}",
        "{{.Name}}-{{.Tag}}",
        DomainConfig.from_data(_DOMAINS),
    )
    names = settings.route({"name": "myroute", "namespace": "default"})
    hostname = names.hostname(tag)
    assert names.host(hostname, cluster_local=local) == primary
    got = set(names.local_hosts(hostname)) if local else {primary}
    assert got == expanded


# ------------------------------------------------------------------ config-domain


def test_new_domain_config() -> None:
    config = DomainConfig.from_data(
        {
            "test-domain.foo.com": "selector:\n  app: foo\n",
            "bar.com": "selector:\n  app: bar\n  version: beta\ntype: wildcard",
            "default.com": "",
            "_example": "anything: [at all",
        }
    )
    assert dict(config.domains) == {
        "test-domain.foo.com": (("app", "foo"),),
        "bar.com": (("app", "bar"), ("version", "beta")),
        "default.com": (),
    }


def test_no_entry_means_the_cluster_domain() -> None:
    assert DomainConfig.from_data({}).lookup({}) == "svc.cluster.local"
    only_selected = DomainConfig.from_data({"prod.com": "selector:\n  app: prod"})
    assert only_selected.lookup({"app": "prod"}) == "prod.com"
    assert only_selected.lookup({"app": "dev"}) == "svc.cluster.local"


@pytest.mark.parametrize(
    ("labels", "domain"),
    [
        ({"app": "foo"}, "test-domain.foo.com"),
        ({"app": "foo", "version": "prod"}, "foo.com"),
        ({"app": "bar"}, "bar.com"),
        ({"app": "bar", "version": "whatever"}, "bar.com"),
        ({"app": "whatever"}, "default.com"),
        ({}, "default.com"),
        ({"networking.knative.dev/visibility": "cluster-local"}, "svc.cluster.local"),
    ],
)
def test_lookup_domain_for_labels(labels: dict[str, str], domain: str) -> None:
    config = DomainConfig.from_data(
        {
            "test-domain.foo.com": "selector:\n  app: foo",
            "foo.com": "selector:\n  app: foo\n  version: prod",
            "bar.com": "selector:\n  app: bar",
            "default.com": "",
        }
    )
    assert config.lookup(labels) == domain


def test_equally_specific_domains_go_to_the_least_name() -> None:
    config = DomainConfig.from_data({"b.com": "", "a.com": "", "c.com": ""})
    assert config.lookup({}) == "a.com"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("bad: yaml: all: day", "error converting YAML to JSON: yaml: line 1: "),
        (
            "foo",
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into "
            "Go value of type config.domainInternalConfig",
        ),
        (
            "selector: [app]",
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into "
            "Go struct field domainInternalConfig.selector of type map[string]string",
        ),
        (
            "selector:\n  app: 1",
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal number into "
            "Go struct field domainInternalConfig.selector.app of type string",
        ),
        ("a: &a [*a, *a]", "error converting YAML to JSON: yaml: "),
    ],
)
def test_bad_domain_values_are_refused(value: str, error: str) -> None:
    got = domain_config_error({"default.com": value})
    assert got is not None and got.startswith(error)
