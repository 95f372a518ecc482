"""Go's parsers of ConfigMap values, with Go's error texts: pure.

Knative reads its ConfigMaps with ``knative.dev/pkg/configmap``, which hands each value
to ``strconv`` or ``time.ParseDuration`` and wraps the error as
``failed to parse "KEY": <Go's error>``. The webhook's denial carries that text, so
the rules here reproduce the grammar and the messages: :func:`parse_int`
(``strconv.ParseInt``), :func:`parse_bool`, :func:`parse_float`, :func:`parse_duration`
(integer nanoseconds, as ``time.Duration``) and :func:`duration_string`
(``Duration.String``, how Knative prints a duration in its messages).
"""

from __future__ import annotations

import math
import re

from kn_walk.goformat import go_quote

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
_MAX_INT64 = 2**63 - 1

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # U+00B5 micro sign
    "\u03bcs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}

_DECIMAL_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SPECIAL_FLOAT = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)


class GoError(ValueError):
    """A Go parse error; ``str()`` is Go's ``err.Error()``."""


def _time_quote(text: str) -> str:
    """``time``'s own quoting: bytes outside printable ASCII as ``\\xNN``."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch < "\x7f":
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
    out.append('"')
    return "".join(out)


def _syntax(func: str, text: str) -> GoError:
    return GoError(f"strconv.{func}: parsing {go_quote(text)}: invalid syntax")


def _range(func: str, text: str) -> GoError:
    return GoError(f"strconv.{func}: parsing {go_quote(text)}: value out of range")


def parse_int(text: str, bits: int = 64) -> int:
    """``strconv.ParseInt(text, 10, bits)``: an optional sign and decimal digits only."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise _syntax("ParseInt", text)
    value = int(text)
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise _range("ParseInt", text)
    return value


def parse_uint(text: str, bits: int = 64) -> int:
    """``strconv.ParseUint(text, 10, bits)``: decimal digits, no sign."""
    if not re.fullmatch(r"[0-9]+", text):
        raise _syntax("ParseUint", text)
    value = int(text)
    if value >= 2**bits:
        raise _range("ParseUint", text)
    return value


def parse_bool(text: str) -> bool:
    """``strconv.ParseBool``: 1, t, T, TRUE, true, True and their false forms."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise _syntax("ParseBool", text)


def parse_float(text: str) -> float:
    """``strconv.ParseFloat(text, 64)`` for decimal forms, ``Inf`` and ``NaN`` (Go's hex
    floats and digit underscores are refused here)."""
    if _SPECIAL_FLOAT.fullmatch(text):
        return float(text.lower().replace("infinity", "inf"))
    if not _DECIMAL_FLOAT.fullmatch(text):
        raise _syntax("ParseFloat", text)
    value = float(text)
    if math.isinf(value):
        raise _range("ParseFloat", text)
    return value


def _leading_fraction(digits: str) -> tuple[int, float]:
    """``leadingFraction``: the digits while they fit in an int64, and 10**their count
    (as a float64); the rest only count as digits."""
    x, scale = 0, 1.0
    for ch in digits:
        if x > (2**63 - 1) // 10:
            break
        y = x * 10 + int(ch)
        if y > 2**63:
            break
        x, scale = y, scale * 10
    return x, scale


def parse_duration(text: str) -> int:
    """``time.ParseDuration``: nanoseconds, from ``[-+]?([0-9]*(\\.[0-9]*)?[a-z]+)+``."""
    invalid = GoError("time: invalid duration " + _time_quote(text))
    s, neg = text, False
    if s[:1] in ("-", "+"):
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or (s[0].isascii() and s[0].isdigit())):
            raise invalid
        m = re.match(r"[0-9]*", s)
        assert m is not None
        whole_text, s = m.group(), s[m.end() :]
        whole = int(whole_text) if whole_text else 0
        if whole > 2**63:
            raise invalid  # leadingInt overflows
        frac_text = ""
        post = False
        if s.startswith("."):
            m = re.match(r"[0-9]*", s[1:])
            assert m is not None
            frac_text, s = m.group(), s[1 + m.end() :]
            post = bool(frac_text)
        if not whole_text and not post:
            raise invalid
        i = 0
        while i < len(s) and not (s[i] == "." or (s[i].isascii() and s[i].isdigit())):
            i += 1
        if i == 0:
            raise GoError("time: missing unit in duration " + _time_quote(text))
        unit_text, s = s[:i], s[i:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise GoError(
                f"time: unknown unit {_time_quote(unit_text)} in duration {_time_quote(text)}"
            )
        if whole > 2**63 // unit:
            raise invalid
        value = whole * unit
        fraction, scale = _leading_fraction(frac_text)
        if fraction > 0:
            value += int(float(fraction) * (float(unit) / scale))
            if value > 2**63:
                raise invalid
        total += value
        if total > 2**63:
            raise invalid
    if neg:
        return -total
    if total > _MAX_INT64:
        raise invalid
    return total


def _frac(value: int, digits: int) -> str:
    """``fmtFrac``: ``value``'s last ``digits`` digits as a fraction, without trailing zeros."""
    text = str(value % 10**digits).rjust(digits, "0").rstrip("0")
    return "." + text if text else ""


def duration_string(ns: int) -> str:
    """``time.Duration.String``: ``1h0m0s``, ``6s``, ``1.5s``, ``600ms``, ``0s``."""
    neg, u = ns < 0, abs(ns)
    if u == 0:
        return "0s"
    if u < SECOND:
        if u < 1_000:
            text = f"{u}ns"
        elif u < 1_000_000:
            text = f"{u // 1_000}{_frac(u, 3)}\u00b5s"
        else:
            text = f"{u // 1_000_000}{_frac(u, 6)}ms"
    else:
        seconds = u // SECOND
        text = f"{seconds % 60}{_frac(u, 9)}s"
        minutes = seconds // 60
        if minutes:
            text = f"{minutes % 60}m" + text
            if minutes // 60:
                text = f"{minutes // 60}h" + text
    return "-" + text if neg else text


def format_float_f(value: float) -> str:
    """``%f``: six decimals."""
    return f"{value:.6f}"
