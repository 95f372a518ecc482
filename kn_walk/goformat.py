"""Go's formatting of values, as Kubernetes and Knative print them in their messages: pure.

:func:`go_quote` is ``fmt``'s ``%q`` of a string (``strconv.Quote``), :func:`go_json`
``encoding/json``'s compact output, :func:`go_json_kind` the JSON kind its decoding errors
name, :func:`go_float` ``fmt``'s ``%v`` of a float64. One definition each, for the sandbox's API errors,
its field manager and tables, and the Knative rules' messages.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def is_print(ch: str) -> bool:
    """Go's ``strconv.IsPrint``: letters, marks, numbers, punctuation, symbols, ASCII space."""
    if ch < "\x7f":
        return ch >= " "
    import unicodedata  # only for what is not ASCII

    return unicodedata.category(ch)[0] in "LMNPS"


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string: ``"name"``, with Go's escapes for what is not printable."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif is_print(ch):
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def integral_floats(value: Any) -> Any:
    """Integral floats as integers, as Go writes a float64 that holds one."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: integral_floats(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [integral_floats(v) for v in value]
    return value


def go_json(value: Any) -> str:
    """Compact JSON as Go's ``encoding/json`` writes it: map keys sorted, HTML characters
    and U+2028/U+2029 escaped; a value JSON has no form for is written as its text."""
    text = json.dumps(
        integral_floats(value),
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
        default=str,
    )
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def go_json_kind(value: Any) -> str:
    """The word Go's ``json.UnmarshalTypeError`` uses for what a JSON value is."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def go_float(f: float) -> str:
    """Go's ``%v`` for a float64 (shortest ``%g``: exponent form from 1e+06 up)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exp, int)
    ds = "".join(str(d) for d in digits)
    point = len(ds) + exp  # position of the decimal point relative to the digits
    x = point - 1  # decimal exponent
    prefix = "-" if sign else ""
    if x < -4 or x >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{prefix}{mant}e{'+' if x >= 0 else '-'}{abs(x):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{ds}"
    if point >= len(ds):
        return prefix + ds + "0" * (point - len(ds))
    return f"{prefix}{ds[:point]}.{ds[point:]}"
