"""go-yaml's bound on alias expansion, the one rule behind "excessive aliasing".

kubectl (through ``sigs.k8s.io/yaml``) and kube-apiserver decode YAML with
go-yaml, which refuses a document whose aliases make up too large a share of the
nodes it decodes (``allowedAliasRatio`` in go-yaml's decode.go): a one-kilobyte
alias bomb is refused instead of expanded. The CLI's reader of user files
(:mod:`kn_walk.safeload`) and the sandbox's request decoder
(:mod:`kn_walk.sandbox.machinery.decoding`) count aliases in their own way, and both ask
:func:`excessive_aliasing` here. Pure, no imports.
"""

from __future__ import annotations

#: the bound applies once more than this many nodes are decoded ...
ALIAS_MIN_DECODES = 1000
#: ... and more than this many of them come from aliases
ALIAS_MIN_ALIASED = 100
#: up to LOW decoded nodes 99% may come from aliases, from HIGH on 10%, linear between
ALIAS_RATIO_LOW = 400_000
ALIAS_RATIO_HIGH = 4_000_000
#: go-yaml's message
EXCESSIVE_ALIASING = "yaml: document contains excessive aliasing"


def allowed_alias_ratio(decodes: int) -> float:
    """The share of ``decodes`` nodes that may come from aliases."""
    if decodes <= ALIAS_RATIO_LOW:
        return 0.99
    if decodes >= ALIAS_RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decodes - ALIAS_RATIO_LOW) / (ALIAS_RATIO_HIGH - ALIAS_RATIO_LOW)


def excessive_aliasing(aliased: int, decodes: int) -> bool:
    """True when ``aliased`` of ``decodes`` decoded nodes is more than go-yaml allows."""
    return (
        aliased > ALIAS_MIN_ALIASED
        and decodes > ALIAS_MIN_DECODES
        and aliased / decodes > allowed_alias_ratio(decodes)
    )
