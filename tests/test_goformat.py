"""Go's %q and encoding/json (kn_walk/goformat.py), against what Go itself prints.

The expected strings are Go's: ``fmt.Sprintf("%q", s)`` and ``json.Marshal`` of the
same values. One definition serves the sandbox's API errors, field manager and tables
and the Knative rules' messages; the JSON-based quoting two of them used before wrote
``\\u0001`` where Go writes ``\\x01`` and left DEL and U+2028 unescaped.
"""

from __future__ import annotations

import pytest

from kn_walk.goformat import go_json, go_quote, is_print


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("name", '"name"'),
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("abc\n", '"abc\\n"'),
        ("\a\b\f\r\t\v", '"\\a\\b\\f\\r\\t\\v"'),
        ("a\x01b", '"a\\x01b"'),
        ("del\x7f", '"del\\x7f"'),
        ("\x85", '"\\u0085"'),  # a C1 control character
        ("é ü", '"é ü"'),
        ("\u00a0", '"\\u00a0"'),  # no-break space: not printable to Go
        ("line\u2028sep", '"line\\u2028sep"'),
        ("\U0001f600", '"\U0001f600"'),  # an emoji is a symbol: printable
        ("\U000e0001", '"\\U000e0001"'),  # a tag character (format): not printable
    ],
)
def test_go_quote_is_gos_percent_q(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_is_print_is_strconv_is_print() -> None:
    assert [is_print(c) for c in " ~\x1f\x7f"] == [True, True, False, False]
    assert is_print("é") and is_print("€") and not is_print("\u200b")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"b": 1, "a": [True, None, "x"]}, '{"a":[true,null,"x"],"b":1}'),
        ({"n": 2.0, "f": 2.5}, '{"f":2.5,"n":2}'),  # a float64 holding an integer
        ("<a&b>", '"\\u003ca\\u0026b\\u003e"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("é", '"é"'),
    ],
)
def test_go_json_is_encoding_json(value: object, text: str) -> None:
    assert go_json(value) == text
