"""Traffic splits for a Knative Service: what the user typed → a new ``spec.traffic``.

Pure: no I/O. The caller passes the Service's current ``spec.traffic``, its
revisions and the name of the latest ready one; :func:`compute` returns the
block to send, or raises :class:`~kn_walk.errors.UsageError` before anything is
sent. :func:`validate_block` applies Knative Serving's own admission rules.

Forms accepted in ``specs`` (each item may also hold several, comma-separated):

``A/B[/C...]``
    The walkthrough block: ``A`` percent to the latest ready revision (tag
    ``current``), ``B`` to the one before it (tag ``candidate``), further
    numbers to older revisions in generation order (tags ``older-1``,
    ``older-2``, ...), plus ``{tag: latest, latestRevision: true, percent: 0}``.
    Replaces the whole block: tags not in it are dropped. Cannot be combined
    with other specs, ``--tag`` or ``--untag``.
``100`` or ``@latest`` alone
    Back to Knative's default ``[{latestRevision: true, percent: 100}]``. Every
    existing tag is dropped; tags given with ``--tag`` are the ones kept (a tag
    on ``@latest`` goes on the 100% target, others get 0% targets).
``REF=PCT`` (``REF`` = ``@latest``, an existing tag or a revision name)
    As ``kn service update --traffic``: the listed targets get exactly these
    percents (trailing ``%`` allowed), every other target gets 0, and targets
    left with neither a tag nor traffic are dropped. Percents must sum to 100.

``tags`` are ``REV=TAG`` / ``@latest=TAG``, ``untags`` are ``TAG``; order of
application is untag, tag, then percents (kn's precedence). Tags already on the
Service are never silently moved: re-tagging needs ``--untag`` first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kn_walk.errors import KnwalkError, UsageError
from kn_walk.knative_rules import fielderror
from kn_walk.knative_rules import traffic as traffic_rules

LATEST_REF = "@latest"
CURRENT_TAG = "current"
CANDIDATE_TAG = "candidate"
LATEST_TAG = "latest"
OLDER_TAG_PREFIX = "older-"

FORMS_HINT = (
    "use A/B (e.g. 50/50), REV=PCT, TAG=PCT, @latest=PCT (summing to 100), or 100 / @latest alone"
)

_DIGITS = re.compile(r"[0-9]+", re.ASCII)


@dataclass(frozen=True)
class RevisionInfo:
    """A Revision of the Service: its name and configuration generation."""

    name: str
    generation: int


# --------------------------------------------------------------------------- validation

#: how a tag must look, in the user's terms
TAG_HINT = (
    "tags are lower-case letters, digits and '-', start with a letter, "
    "end with a letter or digit, at most 63 characters"
)


def validate_block(traffic: object, *, field: str = traffic_rules.FIELD) -> list[str]:
    """What the API server answers about ``traffic`` as a Service's ``spec.traffic``.

    Fields of the wrong type are refused by the CRD's schema (``path: Invalid
    value: ...``); otherwise Knative's webhook applies :mod:`kn_walk.knative_rules.traffic`
    and lists its errors, one per line (``message: path, path``, merged and
    sorted as Knative does). Empty: the block is accepted.
    """
    wrong = traffic_rules.type_errors(traffic, field)
    if wrong:
        return [e.text() for e in wrong]
    return [e.text() for e in fielderror.merged(traffic_rules.validate(traffic, base=field))]


def webhook_answer(errors: Sequence[fielderror.FieldError]) -> str:
    """The detail a usage error carries: what Knative's webhook would say."""
    return "Knative's webhook would answer: " + fielderror.validation_failed(errors)


# --------------------------------------------------------------------------- helpers


def _percent_of(target: Mapping[str, Any]) -> int:
    value = target.get("percent")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _tag_of(target: Mapping[str, Any]) -> str:
    value = target.get("tag")
    return value if isinstance(value, str) else ""


def _with_tag(target: Mapping[str, Any], tag: str) -> dict[str, Any]:
    """The target with ``tag`` set, the tag key first (as Knative's examples show it)."""
    return {"tag": tag, **{k: v for k, v in target.items() if k != "tag"}}


def _parse_percent(text: str, where: str) -> int:
    raw = text[:-1] if text.endswith("%") else text
    if not raw:
        raise UsageError(f"empty traffic percent in {where!r}", FORMS_HINT)
    if raw.startswith("-") and _DIGITS.fullmatch(raw[1:]):
        raise UsageError(
            f"negative traffic percent in {where!r}", "percents are integers from 0 to 100"
        )
    if not _DIGITS.fullmatch(raw):
        raise UsageError(
            f"traffic percent {text!r} in {where!r} is not an integer",
            "percents are integers from 0 to 100",
        )
    if len(raw) > 3 or int(raw) > 100:
        raise UsageError(
            f"traffic percent {text!r} in {where!r} is over 100",
            "percents are integers from 0 to 100",
        )
    return int(raw)


def _split_pair(item: str, what: str, hint: str) -> tuple[str, str]:
    left, sep, right = item.partition("=")
    if not sep or not left or not right or "=" in right:
        raise UsageError(f"expected {what}, got {item!r}", hint)
    return left, right


def _items(specs: Sequence[str]) -> list[str]:
    items = []
    for raw in specs:
        for piece in raw.split(","):
            item = piece.strip()
            if not item:
                raise UsageError(f"empty traffic spec in {raw!r}", FORMS_HINT)
            items.append(item)
    return items


def _describe_revisions(revisions: Sequence[RevisionInfo], latest_ready: str | None) -> str:
    if not revisions:
        return "it has no revisions"
    parts = []
    for rev in sorted(revisions, key=lambda r: r.generation, reverse=True):
        note = ", latest ready" if rev.name == latest_ready else ""
        parts.append(f"{rev.name} (generation {rev.generation}{note})")
    return "revisions: " + ", ".join(parts)


def _tag_list(block: Sequence[Mapping[str, Any]]) -> str:
    tags = [_tag_of(t) for t in block if _tag_of(t)]
    return "existing tags: " + (", ".join(tags) if tags else "none")


# --------------------------------------------------------------------------- forms


def _ratio_block(
    item: str,
    service: str,
    revisions: Sequence[RevisionInfo],
    latest_ready: str | None,
) -> list[dict[str, Any]]:
    numbers = item.split("/")
    percents = [_parse_percent(n, item) for n in numbers]
    if latest_ready is None:
        raise KnwalkError(
            f"service {service!r} has no ready revision to split traffic between",
            "wait for the service to become ready (knwalk status), or deploy again",
        )
    by_name = {rev.name: rev for rev in revisions}
    if latest_ready not in by_name:
        raise ValueError(f"latest ready revision {latest_ready!r} is not in the revisions list")
    newest = by_name[latest_ready]
    older = sorted(
        (rev for rev in revisions if rev.generation < newest.generation),
        key=lambda rev: rev.generation,
        reverse=True,
    )
    chosen = [newest, *older]
    if len(chosen) < len(percents):
        raise UsageError(
            f"{item} needs {len(percents)} revisions (the latest ready one and older) "
            f"of service {service!r}, it has {len(chosen)}; "
            f"{_describe_revisions(revisions, latest_ready)}",
            "deploy another revision first (knwalk deploy), or give fewer numbers",
        )
    tags = [CURRENT_TAG, CANDIDATE_TAG] + [
        f"{OLDER_TAG_PREFIX}{n}" for n in range(1, len(percents) - 1)
    ]
    block: list[dict[str, Any]] = [
        {"tag": tag, "revisionName": rev.name, "percent": pct}
        for tag, rev, pct in zip(tags, chosen, percents, strict=False)
    ]
    total = sum(percents)
    if total != 100:
        shown = ", ".join(f"{t['tag']}={t['revisionName']} {t['percent']}%" for t in block)
        raise UsageError(f"{item} sums to {total}, want 100: {shown}", FORMS_HINT)
    block.append({"tag": LATEST_TAG, "latestRevision": True, "percent": 0})
    return block


def _landing(block: Sequence[Mapping[str, Any]], ref: str) -> int | None:
    """The target a new tag for ``ref`` goes on: for @latest the one that follows the
    latest revision, else the revision's first untagged pinned one; None: a new one."""
    if ref == LATEST_REF:
        return next((i for i, t in enumerate(block) if traffic_rules.follows_latest(t)), None)
    return next(
        (
            i
            for i, t in enumerate(block)
            if t.get("revisionName") == ref
            and not traffic_rules.follows_latest(t)
            and not _tag_of(t)
        ),
        None,
    )


def _parse_tags(
    tags: Sequence[str],
    revision_names: set[str],
    service: str,
    described: str,
    block: Sequence[Mapping[str, Any]],
) -> list[tuple[str, str]]:
    """``--tag`` items as (ref, tag); ``block`` is what they will be applied to."""
    pairs: list[tuple[str, str]] = []
    seen_tags: set[str] = set()
    latest_seen = False
    appended = 0
    for item in tags:
        ref, tag = _split_pair(item.strip(), "--tag REV=TAG or @latest=TAG", described)
        landing = _landing(block, ref)
        index = landing if landing is not None else len(block) + appended
        bad = traffic_rules.tag_error(tag, index)
        if bad is not None:
            raise UsageError(
                f"tag {tag!r} in --tag {item!r} is not a DNS-1035 label",
                TAG_HINT,
                detail=webhook_answer(fielderror.via(traffic_rules.FIELD, [bad])),
            )
        appended += landing is None
        if tag in seen_tags:
            raise UsageError(f"tag {tag!r} is given twice with --tag", "each tag names one target")
        seen_tags.add(tag)
        if ref == LATEST_REF:
            if latest_seen:
                raise UsageError(
                    "@latest is given twice with --tag", "give @latest one tag per command"
                )
            latest_seen = True
        elif ref not in revision_names:
            raise UsageError(f"no revision {ref!r} in service {service!r}", described)
        if tag in revision_names and tag != ref:
            raise UsageError(
                f"tag {tag!r} is also the name of a revision of service {service!r}",
                "pick a tag that is not a revision name, so references stay unambiguous",
            )
        pairs.append((ref, tag))
    return pairs


def _apply_untags(block: list[dict[str, Any]], untags: Sequence[str], service: str) -> None:
    missing = []
    seen: set[str] = set()
    for raw in untags:
        tag = raw.strip()
        if tag in seen:
            raise UsageError(f"tag {tag!r} is given twice with --untag", _tag_list(block))
        seen.add(tag)
        for i, target in enumerate(block):
            if tag and _tag_of(target) == tag:
                block[i] = {k: v for k, v in target.items() if k != "tag"}
                break
        else:
            missing.append(tag)
    if missing:
        raise UsageError(
            f"--untag: no tag {', '.join(repr(t) for t in missing)} on service {service!r}",
            _tag_list(block),
        )


def _apply_tags(block: list[dict[str, Any]], pairs: Sequence[tuple[str, str]]) -> None:
    for ref, tag in pairs:
        owner = next((i for i, t in enumerate(block) if _tag_of(t) == tag), None)
        idx = _landing(block, ref)
        if ref == LATEST_REF:
            if owner is not None and owner == idx:
                continue
            if owner is not None:
                raise UsageError(
                    f"tag {tag!r} is already on another traffic target",
                    f"add --untag {tag} to move it",
                )
            if idx is None:
                block.append({"tag": tag, "latestRevision": True, "percent": 0})
            elif _tag_of(block[idx]):
                existing = _tag_of(block[idx])
                raise UsageError(
                    f"@latest already has tag {existing!r}, refusing to replace it with {tag!r}",
                    f"add --untag {existing} to replace it",
                )
            else:
                block[idx] = _with_tag(block[idx], tag)
            continue
        if owner is not None:
            pinned = not traffic_rules.follows_latest(block[owner])
            if block[owner].get("revisionName") == ref and pinned:
                continue
            raise UsageError(
                f"tag {tag!r} is already on another traffic target",
                f"add --untag {tag} to move it to {ref}",
            )
        if idx is None:
            block.append({"tag": tag, "revisionName": ref, "percent": 0})
        else:
            block[idx] = _with_tag(block[idx], tag)


def _apply_percents(
    block: list[dict[str, Any]],
    items: Sequence[str],
    revision_names: set[str],
    service: str,
    described: str,
) -> None:
    parsed: list[tuple[str, int, str]] = []
    seen: set[str] = set()
    for item in items:
        ref, text = _split_pair(item, "REF=PERCENT", FORMS_HINT)
        if ref in seen:
            raise UsageError(
                f"{ref!r} is given twice in the traffic split", "name each target once"
            )
        seen.add(ref)
        parsed.append((ref, _parse_percent(text, item), item))
    total = sum(pct for _, pct, _ in parsed)
    if total != 100:
        shown = ", ".join(f"{ref}={pct}%" for ref, pct, _ in parsed)
        raise UsageError(f"traffic percents sum to {total}, want 100: {shown}", FORMS_HINT)

    # Resolve every reference before changing anything.
    resolved: list[tuple[int | None, dict[str, Any], str]] = []
    claimed: dict[int, str] = {}
    for ref, pct, item in parsed:
        fresh: dict[str, Any]
        if ref == LATEST_REF:
            idx = next((i for i, t in enumerate(block) if traffic_rules.follows_latest(t)), None)
            fresh = {"latestRevision": True, "percent": pct}
        else:
            tagged = next((i for i, t in enumerate(block) if _tag_of(t) == ref), None)
            if tagged is not None:
                owner = block[tagged].get("revisionName")
                if ref in revision_names and owner != ref:
                    where = f"revision {owner}" if owner else "@latest"
                    raise UsageError(
                        f"{ref!r} in {item!r} is both a tag (on {where}) and a revision name",
                        f"untag it first (--untag {ref}) and re-tag with --tag REV=NEWTAG",
                    )
                idx = tagged
            elif ref in revision_names:
                idx = next(
                    (
                        i
                        for i, t in enumerate(block)
                        if t.get("revisionName") == ref and not traffic_rules.follows_latest(t)
                    ),
                    None,
                )
            else:
                raise UsageError(
                    f"{ref!r} in {item!r} is neither a revision nor a tag of service {service!r}",
                    f"{described}; {_tag_list(block)}",
                )
            fresh = {"revisionName": ref, "percent": pct}
        if idx is not None:
            if idx in claimed:
                raise UsageError(
                    f"{claimed[idx]!r} and {ref!r} name the same traffic target",
                    "name each target once",
                )
            claimed[idx] = ref
        resolved.append((idx, fresh, ref))

    for target in block:
        target["percent"] = 0
    for idx, fresh, _ in resolved:
        if idx is None:
            block.append(fresh)
        else:
            block[idx]["percent"] = fresh["percent"]


# --------------------------------------------------------------------------- entry point


def compute(
    service: str,
    current: Sequence[Mapping[str, Any]] | None,
    revisions: Sequence[RevisionInfo],
    specs: Sequence[str] = (),
    *,
    tags: Sequence[str] = (),
    untags: Sequence[str] = (),
    latest_ready: str | None = None,
) -> list[dict[str, Any]]:
    """The new ``spec.traffic`` for ``service`` (see the module docstring for the forms).

    ``current`` is the Service's ``spec.traffic`` (None or empty means Knative's
    default, 100% to the latest revision). ``revisions`` are all Revisions of
    this Service; ``latest_ready`` is ``status.latestReadyRevisionName``.

    Raises :class:`UsageError` for any bad argument, naming it and what is
    allowed; :class:`KnwalkError` if the Service has no ready revision for a
    ratio split.
    """
    items = _items(specs)
    if not items and not tags and not untags:
        raise UsageError("nothing to change: no traffic split, --tag or --untag given", FORMS_HINT)
    revision_names = {rev.name for rev in revisions}
    described = _describe_revisions(revisions, latest_ready)

    block: list[dict[str, Any]] = [dict(t) for t in current or []]
    if not block:
        block = traffic_rules.default_block()

    ratios = [item for item in items if "/" in item and "=" not in item]
    if ratios:
        if len(items) > 1 or tags or untags:
            raise UsageError(
                f"{ratios[0]} replaces the whole split and cannot be combined with other "
                "specs, --tag or --untag",
                "give it alone, or use REV=PCT / TAG=PCT with --tag",
            )
        return _ratio_block(items[0], service, revisions, latest_ready)

    reset = False
    bare = [item for item in items if "=" not in item]
    if bare:
        item = bare[0]
        if len(items) > 1:
            raise UsageError(f"{item!r} must be given alone or as REF=PERCENT", FORMS_HINT)
        if item != LATEST_REF and not re.fullmatch(r"-?[0-9]*%?", item, re.ASCII):
            raise UsageError(f"expected REF=PERCENT, got {item!r}", FORMS_HINT)
        if item != LATEST_REF and _parse_percent(item, item) != 100:
            raise UsageError(
                f"a bare percent sends everything to @latest, so it must be 100, got {item!r}",
                FORMS_HINT,
            )
        reset = True

    _apply_untags(block, untags, service)
    if reset:
        block = traffic_rules.default_block()
    pairs = _parse_tags(tags, revision_names, service, described, block)
    _apply_tags(block, pairs)
    if reset:
        return block
    if items:
        _apply_percents(block, items, revision_names, service, described)

    result = [t for t in block if _tag_of(t) or _percent_of(t) != 0]
    problems = validate_block(result)
    if problems:
        raise KnwalkError(
            "the computed traffic block would be rejected by Knative: " + "; ".join(problems),
            f"the current spec.traffic of service {service!r} may be invalid; "
            "reset it with `knwalk split 100`",
        )
    return result
