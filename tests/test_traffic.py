"""Traffic-split computation: table-driven cases for every form and rule, plus properties."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kn_walk.errors import KnwalkError, UsageError
from kn_walk.traffic import RevisionInfo, compute, validate_block

Block = list[dict[str, Any]]

SERVICE = "hello"
# hello-00004 is newer but failed: the latest *ready* revision is hello-00003.
REVISIONS = [
    RevisionInfo("hello-00002", 2),
    RevisionInfo("hello-00004", 4),
    RevisionInfo("hello-00001", 1),
    RevisionInfo("hello-00003", 3),
]
LATEST_READY = "hello-00003"

DEFAULT: Block = [{"latestRevision": True, "percent": 100}]
WALK: Block = [
    {"tag": "current", "revisionName": "hello-00003", "latestRevision": False, "percent": 50},
    {"tag": "candidate", "revisionName": "hello-00002", "latestRevision": False, "percent": 50},
    {"tag": "latest", "latestRevision": True, "percent": 0},
]
LATEST_100: Block = [{"latestRevision": True, "percent": 100}]


def run(
    specs: list[str],
    current: Block | None = None,
    *,
    tags: list[str] | None = None,
    untags: list[str] | None = None,
    revisions: list[RevisionInfo] | None = None,
) -> Block:
    return compute(
        SERVICE,
        DEFAULT if current is None else current,
        REVISIONS if revisions is None else revisions,
        specs,
        tags=tags or [],
        untags=untags or [],
        latest_ready=LATEST_READY,
    )


# --------------------------------------------------------------------------- accepted forms

OK_CASES: list[tuple[str, dict[str, Any], Block]] = [
    (
        "ratio 50/50 is the walkthrough block",
        {"specs": ["50/50"]},
        [
            {"tag": "current", "revisionName": "hello-00003", "percent": 50},
            {"tag": "candidate", "revisionName": "hello-00002", "percent": 50},
            {"tag": "latest", "latestRevision": True, "percent": 0},
        ],
    ),
    (
        "ratio with % signs",
        {"specs": ["70%/30%"]},
        [
            {"tag": "current", "revisionName": "hello-00003", "percent": 70},
            {"tag": "candidate", "revisionName": "hello-00002", "percent": 30},
            {"tag": "latest", "latestRevision": True, "percent": 0},
        ],
    ),
    (
        "ratio with three numbers tags the third older-1",
        {"specs": ["50/30/20"]},
        [
            {"tag": "current", "revisionName": "hello-00003", "percent": 50},
            {"tag": "candidate", "revisionName": "hello-00002", "percent": 30},
            {"tag": "older-1", "revisionName": "hello-00001", "percent": 20},
            {"tag": "latest", "latestRevision": True, "percent": 0},
        ],
    ),
    (
        "ratio 100/0 keeps the candidate reachable by tag",
        {"specs": ["100/0"], "current": WALK},
        [
            {"tag": "current", "revisionName": "hello-00003", "percent": 100},
            {"tag": "candidate", "revisionName": "hello-00002", "percent": 0},
            {"tag": "latest", "latestRevision": True, "percent": 0},
        ],
    ),
    ("100 alone resets to the default", {"specs": ["100"], "current": WALK}, LATEST_100),
    ("100% alone resets to the default", {"specs": ["100%"], "current": WALK}, LATEST_100),
    ("@latest alone resets to the default", {"specs": ["@latest"], "current": WALK}, LATEST_100),
    (
        "@latest alone keeps the tags asked for",
        {"specs": ["@latest"], "current": WALK, "tags": ["hello-00002=old"]},
        [
            {"latestRevision": True, "percent": 100},
            {"tag": "old", "revisionName": "hello-00002", "percent": 0},
        ],
    ),
    (
        "100 alone with a tag on @latest",
        {"specs": ["100"], "current": WALK, "tags": ["@latest=live"]},
        [{"tag": "live", "latestRevision": True, "percent": 100}],
    ),
    (
        "REV=PCT pairs in one comma-separated spec",
        {"specs": ["hello-00001=20,hello-00002=80"]},
        [
            {"revisionName": "hello-00001", "percent": 20},
            {"revisionName": "hello-00002", "percent": 80},
        ],
    ),
    (
        "@latest=PCT with trailing % reuses the latest target",
        {"specs": ["hello-00001=20", "@latest=80%"]},
        [
            {"latestRevision": True, "percent": 80},
            {"revisionName": "hello-00001", "percent": 20},
        ],
    ),
    (
        "whitespace and leading zeros are tolerated",
        {"specs": [" hello-00001=050 , @latest=50 "]},
        [
            {"latestRevision": True, "percent": 50},
            {"revisionName": "hello-00001", "percent": 50},
        ],
    ),
    (
        "TAG=PCT moves traffic between tags",
        {"specs": ["current=10", "candidate=90"], "current": WALK},
        [
            {**WALK[0], "percent": 10},
            {**WALK[1], "percent": 90},
            WALK[2],
        ],
    ),
    (
        "@latest=100 keeps existing tags at 0 (kn semantics)",
        {"specs": ["@latest=100"], "current": WALK},
        [{**WALK[0], "percent": 0}, {**WALK[1], "percent": 0}, {**WALK[2], "percent": 100}],
    ),
    (
        "REV=PCT on an untargeted revision appends it",
        {"specs": ["hello-00001=100"], "current": WALK},
        [
            {**WALK[0], "percent": 0},
            {**WALK[1], "percent": 0},
            WALK[2],
            {"revisionName": "hello-00001", "percent": 100},
        ],
    ),
    (
        "REV=PCT on a tagged revision sets its target",
        {"specs": ["hello-00002=100"], "current": WALK},
        [{**WALK[0], "percent": 0}, {**WALK[1], "percent": 100}, WALK[2]],
    ),
    (
        "empty current block means Knative's default",
        {"specs": ["@latest=100"], "current": []},
        LATEST_100,
    ),
    (
        "--tag alone adds a 0% target",
        {"specs": [], "tags": ["hello-00001=blue"]},
        [
            {"latestRevision": True, "percent": 100},
            {"tag": "blue", "revisionName": "hello-00001", "percent": 0},
        ],
    ),
    (
        "--tag @latest tags the latest target",
        {"specs": [], "tags": ["@latest=green"]},
        [{"tag": "green", "latestRevision": True, "percent": 100}],
    ),
    (
        "--tag on a revision with an untagged target tags that target",
        {
            "specs": [],
            "current": [{"revisionName": "hello-00001", "percent": 100}],
            "tags": ["hello-00001=old"],
        },
        [{"tag": "old", "revisionName": "hello-00001", "percent": 100}],
    ),
    (
        "--tag on an already-tagged revision adds a second target",
        {"specs": [], "current": WALK, "tags": ["hello-00003=prod"]},
        [*WALK, {"tag": "prod", "revisionName": "hello-00003", "percent": 0}],
    ),
    (
        "--tag that is already there is a no-op",
        {"specs": [], "current": WALK, "tags": ["hello-00003=current", "@latest=latest"]},
        WALK,
    ),
    (
        "--untag keeps a target that still has traffic",
        {"specs": [], "current": WALK, "untags": ["candidate"]},
        [WALK[0], {k: v for k, v in WALK[1].items() if k != "tag"}, WALK[2]],
    ),
    (
        "--untag drops a target left with no tag and no traffic",
        {"specs": [], "current": WALK, "untags": ["latest"]},
        WALK[:2],
    ),
    (
        "--untag then --tag moves a tag",
        {"specs": [], "current": WALK, "untags": ["candidate"], "tags": ["hello-00001=candidate"]},
        [
            WALK[0],
            {k: v for k, v in WALK[1].items() if k != "tag"},
            WALK[2],
            {"tag": "candidate", "revisionName": "hello-00001", "percent": 0},
        ],
    ),
    (
        "tag then percent in one command",
        {"specs": ["blue=30", "@latest=70"], "tags": ["hello-00001=blue"]},
        [
            {"latestRevision": True, "percent": 70},
            {"tag": "blue", "revisionName": "hello-00001", "percent": 30},
        ],
    ),
    (
        "a tag equal to its own revision's name is not ambiguous",
        {
            "specs": ["hello-00001=100"],
            "current": [
                {"tag": "hello-00001", "revisionName": "hello-00001", "percent": 50},
                {"latestRevision": True, "percent": 50},
            ],
        },
        [{"tag": "hello-00001", "revisionName": "hello-00001", "percent": 100}],
    ),
]


@pytest.mark.parametrize(("case", "args", "expected"), OK_CASES, ids=[c[0] for c in OK_CASES])
def test_accepted(case: str, args: dict[str, Any], expected: Block) -> None:
    result = run(**args)
    assert result == expected
    assert validate_block(result) == []


def test_input_block_is_not_mutated() -> None:
    current = copy.deepcopy(WALK)
    run(["current=10", "candidate=90"], current, untags=["latest"], tags=["@latest=new"])
    assert current == WALK


def test_ratio_without_ready_revision_is_a_failure_not_usage() -> None:
    with pytest.raises(KnwalkError) as info:
        compute(SERVICE, DEFAULT, REVISIONS, ["50/50"], latest_ready=None)
    assert not isinstance(info.value, UsageError)
    assert "no ready revision" in info.value.message


# --------------------------------------------------------------------------- rejected forms

WALK_AMBIGUOUS: Block = [
    {"tag": "hello-00001", "revisionName": "hello-00002", "percent": 100},
]

ERROR_CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("ratio not summing to 100", {"specs": ["50/40"]}, ["sums to 90", "current=hello-00003 50%"]),
    (
        "ratio needing more revisions than exist",
        {"specs": ["40/30/10/10/10"]},
        ["needs 5", "has 3", "hello-00001 (generation 1)", "hello-00003 (generation 3, latest"],
    ),
    (
        "ratio on a service with one revision",
        {"specs": ["50/50"], "revisions": [RevisionInfo("hello-00003", 1)]},
        ["needs 2", "has 1", "hello-00003"],
    ),
    ("ratio with a non-integer", {"specs": ["50/abc"]}, ["'abc'", "not an integer"]),
    ("ratio part over 100", {"specs": ["150/-50"]}, ["over 100"]),
    ("ratio with a negative part", {"specs": ["50/-50"]}, ["negative"]),
    ("ratio with an empty part", {"specs": ["50//50"]}, ["empty traffic percent"]),
    ("ratio combined with a tag", {"specs": ["50/50"], "tags": ["hello-00001=x"]}, ["combined"]),
    ("ratio combined with a spec", {"specs": ["50/50", "@latest=0"]}, ["combined"]),
    (
        "explicit percents not summing to 100",
        {"specs": ["hello-00001=60,@latest=30"]},
        ["sum to 90", "hello-00001=60%", "@latest=30%"],
    ),
    ("percent over 100", {"specs": ["hello-00001=101"]}, ["over 100"]),
    ("huge percent", {"specs": ["hello-00001=" + "9" * 5000]}, ["over 100"]),
    ("negative percent", {"specs": ["hello-00001=-5", "@latest=105"]}, ["negative"]),
    ("fractional percent", {"specs": ["hello-00001=5.5"]}, ["'5.5'", "not an integer"]),
    ("empty percent", {"specs": ["hello-00001="]}, ["expected REF=PERCENT"]),
    ("only a percent sign", {"specs": ["hello-00001=%"]}, ["empty traffic percent"]),
    ("empty reference", {"specs": ["=100"]}, ["expected REF=PERCENT"]),
    ("two equals signs", {"specs": ["a=b=100"]}, ["expected REF=PERCENT"]),
    ("empty spec between commas", {"specs": ["hello-00001=50,,@latest=50"]}, ["empty traffic"]),
    (
        "unknown revision",
        {"specs": ["nope=100"]},
        ["'nope'", "neither a revision nor a tag"],
    ),
    (
        "revision of another service",
        {"specs": ["other-00001=100"]},
        ["'other-00001'", "service 'hello'"],
    ),
    ("duplicate revision", {"specs": ["hello-00001=50", "hello-00001=50"]}, ["given twice"]),
    ("duplicate @latest", {"specs": ["@latest=50,@latest=50"]}, ["given twice"]),
    (
        "tag and revision naming the same target",
        {"specs": ["current=50", "hello-00003=50"], "current": WALK},
        ["'current' and 'hello-00003' name the same traffic target"],
    ),
    (
        "tag latest and @latest naming the same target",
        {"specs": ["latest=50", "@latest=50"], "current": WALK},
        ["name the same traffic target"],
    ),
    (
        "reference that is a tag and another revision's name",
        {"specs": ["hello-00001=100"], "current": WALK_AMBIGUOUS},
        ["both a tag (on revision hello-00002) and a revision name"],
    ),
    ("bare percent other than 100", {"specs": ["50"]}, ["must be 100"]),
    ("bare word", {"specs": ["abc"]}, ["expected REF=PERCENT, got 'abc'"]),
    ("bare 100 with other specs", {"specs": ["100", "@latest=100"]}, ["given alone"]),
    ("nothing to do", {"specs": []}, ["nothing to change"]),
    ("tag not DNS-1035 (case)", {"specs": [], "tags": ["hello-00001=Blue"]}, ["DNS-1035"]),
    ("tag not DNS-1035 (digit first)", {"specs": [], "tags": ["hello-00001=1st"]}, ["DNS-1035"]),
    ("tag not DNS-1035 (trailing -)", {"specs": [], "tags": ["hello-00001=a-"]}, ["DNS-1035"]),
    ("tag too long", {"specs": [], "tags": ["hello-00001=" + "a" * 64]}, ["DNS-1035"]),
    (
        "tag given twice",
        {"specs": [], "tags": ["hello-00001=x", "hello-00002=x"]},
        ["'x' is given twice"],
    ),
    ("@latest tagged twice", {"specs": [], "tags": ["@latest=a", "@latest=b"]}, ["twice"]),
    ("tag on unknown revision", {"specs": [], "tags": ["nope=x"]}, ["no revision 'nope'"]),
    ("tag without =", {"specs": [], "tags": ["hello-00001"]}, ["--tag REV=TAG"]),
    (
        "tag that is another revision's name",
        {"specs": [], "tags": ["hello-00001=hello-00002"]},
        ["also the name of a revision"],
    ),
    (
        "moving a tag without --untag",
        {"specs": [], "current": WALK, "tags": ["hello-00001=current"]},
        ["already on another traffic target"],
    ),
    (
        "re-tagging @latest without --untag",
        {"specs": [], "current": WALK, "tags": ["@latest=new"]},
        ["@latest already has tag 'latest'"],
    ),
    ("untag of a missing tag", {"specs": [], "current": WALK, "untags": ["nope"]}, ["no tag"]),
    (
        "untag twice",
        {"specs": [], "current": WALK, "untags": ["current", "current"]},
        ["given twice"],
    ),
]


@pytest.mark.parametrize(("case", "args", "needles"), ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_rejected(case: str, args: dict[str, Any], needles: list[str]) -> None:
    with pytest.raises(UsageError) as info:
        run(**args)
    assert info.value.exit_code == 2
    assert info.value.hint, "every usage error says what is allowed"
    for needle in needles:
        assert needle in info.value.message


def test_unknown_reference_hint_lists_revisions_and_tags() -> None:
    with pytest.raises(UsageError) as info:
        run(["nope=100"], WALK)
    for name in ("hello-00001", "hello-00002", "hello-00003", "hello-00004", "current"):
        assert name in info.value.hint


def test_untag_hint_lists_existing_tags() -> None:
    with pytest.raises(UsageError) as info:
        run([], WALK, untags=["nope"])
    assert "current, candidate, latest" in info.value.hint


# --------------------------------------------------------------------------- Knative's rules

VALIDATE_CASES: list[tuple[str, object, list[str]]] = [
    ("walkthrough block", WALK, []),
    ("default block", DEFAULT, []),
    ("tagged target without percent", [*DEFAULT, {"tag": "x", "revisionName": "r"}], []),
    ("sum below 100", [{"latestRevision": True, "percent": 90}], ["sum to 90, want 100"]),
    ("sum above 100", [*DEFAULT, {"revisionName": "r", "percent": 1}], ["sum to 101"]),
    (
        "percent out of range",
        [{"revisionName": "a", "percent": 150}, {"revisionName": "b", "percent": -50}],
        ["expected 0 <= 150 <= 100: spec.traffic[0].percent", "expected 0 <= -50 <= 100"],
    ),
    (
        "duplicate tags",
        [{**DEFAULT[0], "tag": "x"}, {"tag": "x", "revisionName": "r", "percent": 0}],
        ['Multiple definitions for "x": spec.traffic[0].tag, spec.traffic[1].tag'],
    ),
    (
        "revisionName with latestRevision true",
        [{"revisionName": "a", "latestRevision": True, "percent": 100}],
        ['may not set revisionName "a" when latestRevision is true'],
    ),
    (
        "latestRevision false without revisionName",
        [{"latestRevision": False, "percent": 100}],
        ['may not set revisionName "" when latestRevision is false'],
    ),
    (
        "tag not DNS-1035: Knative's path is tag[0] (apis.ErrInvalidArrayValue)",
        [{**DEFAULT[0], "tag": "Bad_Tag"}],
        ["invalid value: not a DNS 1035 label: [a DNS-1035 label", ": spec.traffic.tag[0]"],
    ),
    ("tag too long", [{**DEFAULT[0], "tag": "a" * 64}], ["no more than 63 characters"]),
    (
        "configurationName in a Service",
        [{"configurationName": "c", "percent": 100}],
        ["must not set the field(s): spec.traffic[0].configurationName"],
    ),
    ("url in spec", [{**DEFAULT[0], "url": "http://x"}], ["spec.traffic[0].url"]),
    ("bad revisionName", [{"revisionName": "Bad Name!", "percent": 100}], ["invalid key name"]),
    (
        "not a list: the API server's schema answers",
        {"percent": 100},
        ['spec.traffic: Invalid value: "object": spec.traffic in body must be of type array'],
    ),
    (
        "not an object",
        ["x", *DEFAULT],
        [
            'spec.traffic[0]: Invalid value: "string": spec.traffic[0] in body must be of type object'
        ],
    ),
    (
        "string percent: a type error, not a sum",
        [{"latestRevision": True, "percent": "100"}],
        ['spec.traffic[0].percent: Invalid value: "string": spec.traffic[0].percent in body'],
    ),
    (
        "boolean percent",
        [{"latestRevision": True, "percent": True}],
        ['in body must be of type integer: "boolean"'],
    ),
    ("empty block", [], ["Traffic targets sum to 0, want 100: spec.traffic"]),
]


@pytest.mark.parametrize(
    ("case", "block", "needles"), VALIDATE_CASES, ids=[c[0] for c in VALIDATE_CASES]
)
def test_validate_block(case: str, block: object, needles: list[str]) -> None:
    errors = validate_block(block)
    if not needles:
        assert errors == []
    for needle in needles:
        assert any(needle in error for error in errors), (needle, errors)
    if "type" in case:
        assert not any("sum to" in error for error in errors), errors


# --------------------------------------------------------------------------- properties

CURRENTS: list[Block] = [
    DEFAULT,
    WALK,
    [],
    [{"tag": "blue", "revisionName": "hello-00001", "percent": 100}],
    [
        {"revisionName": "hello-00002", "latestRevision": False, "percent": 40},
        {"latestRevision": True, "percent": 60},
        {"tag": "hello-00004", "revisionName": "hello-00004", "latestRevision": False},
    ],
]
TOKENS = [
    "@latest",
    "hello-00001",
    "hello-00002",
    "hello-00003",
    "hello-00004",
    "current",
    "candidate",
    "latest",
    "blue",
    "older-1",
    "nope",
    "Bad_Tag",
    "=",
    "/",
    "%",
    ",",
    "-",
    " ",
    "0",
    "50",
    "100",
    "101",
    "",
]
shaped_text = st.lists(st.sampled_from(TOKENS) | st.integers(-5, 120).map(str), max_size=7).map(
    "".join
)
pair_text = st.builds(
    "{}={}{}".format,
    st.sampled_from(TOKENS[:11]),
    st.sampled_from([0, 0, 10, 50, 50, 90, 100, 100, -1, 101]),
    st.sampled_from(["", "%"]),
)
ratio_text = st.lists(st.sampled_from([0, 10, 50, 90, 100, 101]), min_size=2, max_size=4).map(
    lambda ns: "/".join(map(str, ns))
)
tag_text = st.builds(
    "{}={}".format, st.sampled_from(TOKENS[:5]), st.sampled_from([*TOKENS[5:12], "green"])
)
any_text = st.text(max_size=30) | shaped_text | pair_text | ratio_text | tag_text


def _assert_good(block: Block) -> None:
    assert validate_block(block) == []
    assert sum(t.get("percent", 0) for t in block) == 100


@settings(max_examples=400, deadline=None)
@given(
    current=st.sampled_from(CURRENTS),
    specs=st.lists(any_text, max_size=3),
    tags=st.lists(any_text | tag_text, max_size=2),
    untags=st.lists(any_text | st.sampled_from(TOKENS[5:10]), max_size=2),
)
def test_arbitrary_strings_give_a_valid_block_or_a_usage_error(
    current: Block, specs: list[str], tags: list[str], untags: list[str]
) -> None:
    try:
        block = run(specs, current, tags=tags, untags=untags)
    except UsageError as exc:
        assert exc.message and exc.hint
        return
    _assert_good(block)


@st.composite
def partitions_of_100(draw: st.DrawFn, parts: int) -> list[int]:
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=parts - 1, max_size=parts - 1)))
    edges = [0, *cuts, 100]
    return [b - a for a, b in itertools.pairwise(edges)]


# References that never alias each other within the given current block.
DISTINCT_REFS: list[tuple[Block, list[str]]] = [
    (DEFAULT, ["@latest", "hello-00001", "hello-00002", "hello-00003", "hello-00004"]),
    (WALK, ["current", "candidate", "latest", "hello-00001", "hello-00004"]),
    ([], ["@latest", "hello-00001", "hello-00004"]),
]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), which=st.sampled_from(DISTINCT_REFS), percent_sign=st.booleans())
def test_well_formed_explicit_specs_are_accepted(
    data: st.DataObject, which: tuple[Block, list[str]], percent_sign: bool
) -> None:
    current, pool = which
    refs = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
    percents = data.draw(partitions_of_100(len(refs)))
    suffix = "%" if percent_sign else ""
    specs = [f"{ref}={pct}{suffix}" for ref, pct in zip(refs, percents, strict=True)]
    block = run(specs, current)
    _assert_good(block)
    for ref, pct in zip(refs, percents, strict=True):
        if pct == 0:
            continue
        hits = [
            t
            for t in block
            if t.get("tag") == ref
            or (ref == "@latest" and t.get("latestRevision") is True and "tag" not in t)
            or (t.get("revisionName") == ref and "tag" not in t)
        ]
        assert any(t["percent"] == pct for t in hits), (ref, pct, block)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 3), data=st.data())
def test_ratios_summing_to_100_are_accepted(n: int, data: st.DataObject) -> None:
    percents = data.draw(partitions_of_100(n))
    block = run(["/".join(map(str, percents))], data.draw(st.sampled_from(CURRENTS)))
    _assert_good(block)
    assert [t["percent"] for t in block] == [*percents, 0]
    assert [t["revisionName"] for t in block[:n]] == ["hello-00003", "hello-00002", "hello-00001"][
        :n
    ]


dns_tag = st.from_regex(r"\A[a-z]([-a-z0-9]{0,10}[a-z0-9])?\Z")


@settings(max_examples=200, deadline=None)
@given(
    current=st.sampled_from(CURRENTS),
    targets=st.lists(
        st.sampled_from(["@latest", "hello-00001", "hello-00002", "hello-00003"]), max_size=3
    ),
    names=st.lists(dns_tag, min_size=3, max_size=3, unique=True),
)
def test_valid_tags_give_a_valid_block_or_a_usage_error(
    current: Block, targets: list[str], names: list[str]
) -> None:
    tags = [f"{target}={name}" for target, name in zip(targets, names, strict=False)]
    try:
        block = run([], current, tags=tags) if tags else None
    except UsageError:
        return
    if block is not None:
        _assert_good(block)
        for name in names[: len(targets)]:
            assert any(t.get("tag") == name for t in block)


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    which=st.sampled_from(DISTINCT_REFS),
    tags=st.lists(tag_text, max_size=2),
    untags=st.lists(
        st.sampled_from(["current", "candidate", "latest", "blue"]), max_size=2, unique=True
    ),
)
def test_well_formed_specs_with_tags_give_a_valid_block_or_a_usage_error(
    data: st.DataObject, which: tuple[Block, list[str]], tags: list[str], untags: list[str]
) -> None:
    current, pool = which
    refs = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
    percents = data.draw(partitions_of_100(len(refs)))
    specs = [f"{ref}={pct}" for ref, pct in zip(refs, percents, strict=True)]
    try:
        block = run(specs, current, tags=tags, untags=untags)
    except UsageError as exc:
        assert exc.message and exc.hint
        return
    _assert_good(block)
