"""Name rules Knative applies, from Kubernetes' ``k8s.io/apimachinery`` validation.

Each check returns Kubernetes' messages (empty when the value is fine), word for
word: Knative puts them in its own errors, e.g. ``not a DNS 1035 label: [...]``.
Matching is on the whole value (Go's ``^...$`` does not match before a final
newline, so neither does :func:`re.fullmatch`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from kn_walk.knative_rules.fielderror import (
    FieldError,
    disallowed_fields,
    go_quote,
    invalid_value,
)

#: the longest DNS label, and so the longest Service, Revision name or tag
MAX_LABEL = 63
MAX_SUBDOMAIN = 253
EMPTY = "must be non-empty"

DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = f"({QUALIFIED_NAME_FMT})?"

_DNS1035_LABEL = re.compile(DNS1035_LABEL_FMT, re.ASCII)
_DNS1123_LABEL = re.compile(DNS1123_LABEL_FMT, re.ASCII)
_DNS1123_SUBDOMAIN = re.compile(DNS1123_SUBDOMAIN_FMT, re.ASCII)
_QUALIFIED_NAME = re.compile(QUALIFIED_NAME_FMT, re.ASCII)
_LABEL_VALUE = re.compile(LABEL_VALUE_FMT, re.ASCII)


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def regex_error(message: str, fmt: str, *examples: str) -> str:
    """Kubernetes' RegexError: the rule, examples, and the regex itself."""
    if not examples:
        return f"{message} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


#: IsDNS1035Label's message for a value that does not match
DNS1035_LABEL_MSG = regex_error(
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character",
    DNS1035_LABEL_FMT,
    "my-name",
    "abc-123",
)
DNS1123_LABEL_MSG = regex_error(
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character",
    DNS1123_LABEL_FMT,
    "my-name",
    "123-abc",
)
DNS1123_SUBDOMAIN_MSG = regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character",
    DNS1123_SUBDOMAIN_FMT,
    "example.com",
)
_QUALIFIED_NAME_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character"
)
QUALIFIED_NAME_MSG = regex_error(
    _QUALIFIED_NAME_RULE, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"
)

LABEL_VALUE_MSG = regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character",
    LABEL_VALUE_FMT,
    "MyValue",
    "my_value",
    "12345",
)


def _length_and_form(value: str, limit: int, form: re.Pattern[str], message: str) -> list[str]:
    """Kubernetes' two checks of a name: its length, then its form (both may fail)."""
    errors = [max_len_error(limit)] if len(value) > limit else []
    return errors if form.fullmatch(value) else [*errors, message]


def dns1035_label_errors(value: str) -> list[str]:
    """IsDNS1035Label: lower case letters, digits and '-', a letter first, at most 63."""
    return _length_and_form(value, MAX_LABEL, _DNS1035_LABEL, DNS1035_LABEL_MSG)


def is_dns1035_label(value: str) -> bool:
    return not dns1035_label_errors(value)


def dns1123_label_errors(value: str) -> list[str]:
    """IsDNS1123Label (a Namespace's name): lower case letters, digits and '-', at most 63."""
    return _length_and_form(value, MAX_LABEL, _DNS1123_LABEL, DNS1123_LABEL_MSG)


def dns1123_subdomain_errors(value: str) -> list[str]:
    """IsDNS1123Subdomain: dot-separated DNS-1123 labels, at most 253 characters."""
    return _length_and_form(value, MAX_SUBDOMAIN, _DNS1123_SUBDOMAIN, DNS1123_SUBDOMAIN_MSG)


def path_segment_name_errors(value: str) -> list[str]:
    """apimachinery's ``path.IsValidPathSegmentName``: the name rule of kinds whose names
    are not DNS names (APIServices' ``v1.``)."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in value]


def fully_qualified_domain_name_error(field: str, name: str) -> str | None:
    """apimachinery's ``IsFullyQualifiedDomainName(field.NewPath(field), name)`` as
    ``ToAggregate()`` prints it, or None: a DNS-1123 subdomain of two labels or more, a
    final dot allowed."""
    if not name:
        return f"{field}: Required value"
    name = name.removesuffix(".")
    errors = dns1123_subdomain_errors(name)
    if errors:
        return f"{field}: Invalid value: {go_quote(name)}: {','.join(errors)}"
    labels = name.split(".")
    if len(labels) < 2:
        return (
            f"{field}: Invalid value: {go_quote(name)}: "
            "should be a domain with at least two segments separated by dots"
        )
    for label in labels:
        errors = dns1123_label_errors(label)
        if errors:
            return f"{field}: Invalid value: {go_quote(label)}: {','.join(errors)}"
    return None


def label_value_errors(value: str) -> list[str]:
    """IsValidLabelValue: empty, or a qualified name's form of at most 63 characters."""
    return _length_and_form(value, MAX_LABEL, _LABEL_VALUE, LABEL_VALUE_MSG)


def qualified_name_errors(value: str) -> list[str]:
    """IsQualifiedName (a label key): ``[prefix/]name``, as a traffic target's names must be."""
    errors: list[str] = []
    prefix, slash, name = value.partition("/")
    if not slash:
        name = value
    elif "/" in name:
        return [
            "a valid label key "
            + regex_error(_QUALIFIED_NAME_RULE, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    elif not prefix:
        errors.append(f"prefix part {EMPTY}")
    else:
        errors += [f"prefix part {m}" for m in dns1123_subdomain_errors(prefix)]
    if not name:
        errors.append(f"name part {EMPTY}")
    elif len(name) > MAX_LABEL:
        errors.append(f"name part {max_len_error(MAX_LABEL)}")
    if not _QUALIFIED_NAME.fullmatch(name):
        errors.append(f"name part {QUALIFIED_NAME_MSG}")
    return errors


def go_list(messages: Sequence[str]) -> str:
    """``fmt.Sprint`` of a ``[]string``: ``[first second]``, space-separated."""
    return "[" + " ".join(messages) + "]"


def _generate_name_base(prefix: str) -> str:
    """NameIsDNS1035Label with prefix=true (apimachinery's maskTrailingDash): a final '-'
    (the random suffix follows it) is no fault. Upstream drops the last two characters
    and appends one, so this does too: it decides which prefixes pass."""
    return prefix[:-2] + "a" if len(prefix) > 1 and prefix.endswith("-") else prefix


def object_meta_errors(meta: Mapping[str, object]) -> list[FieldError]:
    """Knative's ValidateObjectMetadata: ``generateName`` and ``name`` are DNS-1035 labels,
    and one of them is given. Paths below ``metadata``; the first problem only."""
    name, generate = meta.get("name") or "", meta.get("generateName") or ""
    if generate:
        messages = dns1035_label_errors(_generate_name_base(str(generate)))
        if messages:
            return [
                FieldError(f"not a DNS 1035 label prefix: {go_list(messages)}", ("generateName",))
            ]
    if name:
        messages = dns1035_label_errors(str(name))
        if messages:
            return [FieldError(f"not a DNS 1035 label: {go_list(messages)}", ("name",))]
    if not name and not generate:
        return [FieldError("name or generateName is required", ("name",))]
    return []


def revision_name_errors(
    name: str, generate_name: str, parent: str, parent_generate_name: str = ""
) -> list[FieldError]:
    """Knative's validateRevisionName for a template's ``metadata`` (paths below the
    template): DNS-1035 labels, no own name when the parent is named by generateName,
    and the name starts with ``PARENT-``. The first problem only."""
    if generate_name:
        messages = dns1035_label_errors(_generate_name_base(generate_name))
        if messages:
            return [
                invalid_value(
                    f"not a DNS 1035 label prefix: {go_list(messages)}", "metadata.generateName"
                )
            ]
    if not name:
        return []
    messages = dns1035_label_errors(name)
    if messages:
        return [invalid_value(f"not a DNS 1035 label: {go_list(messages)}", "metadata.name")]
    if not parent and parent_generate_name:
        return [disallowed_fields("metadata.name")]
    prefix = f"{parent}-"
    if not name.startswith(prefix):
        return [
            invalid_value(f"{go_quote(name)} must have prefix {go_quote(prefix)}", "metadata.name")
        ]
    return []
