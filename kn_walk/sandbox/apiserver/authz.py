"""Who the sandbox's one user is, and what it may do: the self reviews kube-apiserver answers.

The sandbox has one user, whoever holds the bearer token of its state dir. It is the
cluster's administrator: on a real cluster that is a member of ``system:masters``, whom
kube-apiserver's first authorizer allows everything. These reviews say so, so that
``kubectl auth can-i ...`` prints ``yes``, ``kubectl auth can-i --list`` lists ``*``,
``kubectl auth whoami`` names the user, and tools that check permissions before acting
(k9s, Headlamp, scripts written ``kubectl auth can-i ... || exit``) proceed:

* ``authorization.k8s.io/v1`` SelfSubjectAccessReview: ``status.allowed`` true;
* ``authorization.k8s.io/v1`` SelfSubjectRulesReview: every verb on every resource and
  every non-resource URL, as kube's privileged-group authorizer reports for system:masters;
* ``authentication.k8s.io/v1`` SelfSubjectReview: the user and its groups;
* ``authentication.k8s.io/v1`` TokenReview: whether a token is the sandbox's (kr8s's
  ``whoami`` asks this way), and whose.

Reviews are answered, never stored (201 Created, as from kube-apiserver).
"""

from __future__ import annotations

import hmac
from typing import Any

from kn_walk.sandbox.machinery import apierrors as E
from kn_walk.sandbox.machinery.resourcetypes import ResourceType

Obj = dict[str, Any]

#: the name the sandbox's one user goes by (the token in the state dir is its credential)
USERNAME = "knwalk-sandbox-admin"
#: system:masters is the group kube-apiserver allows everything
GROUPS = ("system:masters", "system:authenticated")

ACCESS_REVIEW = ("authorization.k8s.io", "selfsubjectaccessreviews")
RULES_REVIEW = ("authorization.k8s.io", "selfsubjectrulesreviews")
SELF_REVIEW = ("authentication.k8s.io", "selfsubjectreviews")
TOKEN_REVIEW = ("authentication.k8s.io", "tokenreviews")
REVIEWS = frozenset({ACCESS_REVIEW, RULES_REVIEW, SELF_REVIEW, TOKEN_REVIEW})


def is_review(rt: ResourceType) -> bool:
    return rt.key in REVIEWS


def _checked(rt: ResourceType, body: Any) -> Obj:
    if not isinstance(body, dict):
        raise E.bad_request(
            "the body of the request was empty"
            if body is None
            else f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}'
        )
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if api_version is not None and api_version != rt.api_version:
        raise E.bad_request(
            f"the API version in the data ({api_version}) does not match the expected "
            f"API version ({rt.api_version})"
        )
    if kind is not None and kind != rt.kind:
        raise E.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
        )
    spec = body.get("spec")
    if spec is not None and not isinstance(spec, dict):
        raise E.bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
            "json: cannot unmarshal into Go struct field of type "
            f"v1.{rt.kind}Spec"
        )
    return body


def _access_status(spec: Obj, rt: ResourceType) -> Obj:
    has_resource = isinstance(spec.get("resourceAttributes"), dict)
    has_non_resource = isinstance(spec.get("nonResourceAttributes"), dict)
    causes = []
    if has_resource and has_non_resource:
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {_non_resource(spec['nonResourceAttributes'])}: "
                "cannot be specified in combination with resourceAttributes",
                "field": "spec.nonResourceAttributes",
            }
        )
    if not has_resource and not has_non_resource:
        causes.append(
            {
                "reason": "FieldValueInvalid",
                "message": 'Invalid value: "null": exactly one of nonResourceAttributes or '
                "resourceAttributes must be specified",
                "field": "spec.resourceAttributes",
            }
        )
    if causes:
        raise E.invalid(rt, "", causes)
    return {"allowed": True}


def _non_resource(attrs: Obj) -> str:
    """NonResourceAttributes as kube's field.Invalid prints it (its generated String())."""
    return f"&NonResourceAttributes{{Path:{attrs.get('path', '')},Verb:{attrs.get('verb', '')},}}"


def _rules_status() -> Obj:
    return {
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": False,
    }


def _user() -> Obj:
    return {"username": USERNAME, "groups": list(GROUPS)}


def _token_status(spec: Obj, token: str) -> Obj:
    given = spec.get("token")
    if isinstance(given, str) and hmac.compare_digest(given.encode(), token.encode()):
        return {"authenticated": True, "user": _user()}
    return {"user": {}, "error": "invalid bearer token"}


def review(rt: ResourceType, body: Any, token: str) -> Obj:
    """The answered review for a POST of ``body`` to ``rt`` (one of :data:`REVIEWS`);
    ``token`` is the sandbox's bearer token, for TokenReviews."""
    obj = _checked(rt, body)
    spec = obj.get("spec") or {}
    answer: Obj = {
        "kind": rt.kind,
        "apiVersion": rt.api_version,
        "metadata": {"creationTimestamp": None},
    }
    if rt.key == SELF_REVIEW:
        answer["status"] = {"userInfo": _user()}
        return answer
    answer["spec"] = spec
    if rt.key == ACCESS_REVIEW:
        answer["status"] = _access_status(spec, rt)
    elif rt.key == TOKEN_REVIEW:
        answer["status"] = _token_status(spec, token)
    else:
        answer["status"] = _rules_status()
    return answer
