"""JSON in and out of the hot path.

orjson, when installed, parses and writes several times faster than the standard library and
already produces what the contract asks for (compact, keys in order, UTF-8 not escaped); the
standard library is the fallback, made to produce the same bytes. Both reject NaN and Infinity,
which are not JSON, so such an answer counts as malformed instead of reaching a SIEM.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

__all__ = ["loads", "dumps", "BACKEND"]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _std_loads(data: bytes) -> Any:
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    # The standard library accepts an escaped lone surrogate ("\ud800"), which no UTF-8 output
    # can carry: refuse it here, as orjson does, instead of failing when the event is written.
    if _ESCAPED_SURROGATE.search(data):
        try:
            _std_dumps(value)
        except UnicodeEncodeError:
            raise ValueError("lone surrogate in a JSON string") from None
    return value


def _std_dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


loads: Callable[[bytes], Any]
dumps: Callable[[Any], bytes]

try:
    import orjson

    def _orjson_dumps(obj: Any) -> bytes:
        try:
            return orjson.dumps(obj)
        except TypeError:
            # Integers beyond 64 bits: orjson refuses them, the standard library does not.
            return _std_dumps(obj)

    # orjson silently turns an integer beyond 64 bits into a float (a changed value); such a
    # number has at least 19 digits, rare enough that the exact standard library can take it.
    # The test is "19 ASCII digits in a row anywhere" (re's [0-9]{19}), done as a byte
    # translation (digits to "0", the rest to ".") and a substring search: ~3.5 ms for a
    # 2,000-event page where the regex took ~30 ms, more than parsing the page.
    _DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2E for b in range(256))
    _LONG_RUN = b"0" * 19

    def _has_long_digit_run(data: bytes) -> bool:
        return _LONG_RUN in data.translate(_DIGITS_AS_ZERO)

    def _orjson_loads(data: bytes) -> Any:
        if _has_long_digit_run(data):
            return _std_loads(data)
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(str(exc)) from None

    loads, dumps, BACKEND = _orjson_loads, _orjson_dumps, "orjson"
except ImportError:  # pragma: no cover - exercised when orjson is absent
    loads, dumps, BACKEND = _std_loads, _std_dumps, "json"
