"""The codec's quick test for integers orjson would turn into floats matches its definition."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docusign_input import codec

LONG_DIGITS = re.compile(rb"[0-9]{19}")


@pytest.mark.skipif(codec.BACKEND != "orjson", reason="orjson not installed")
@given(st.binary(max_size=64) | st.text(alphabet='0123456789٣a.-"', max_size=48).map(str.encode))
def test_long_digit_run_check_is_the_regex(data):
    assert codec._has_long_digit_run(data) == bool(LONG_DIGITS.search(data))


@pytest.mark.skipif(codec.BACKEND != "orjson", reason="orjson not installed")
def test_integer_beyond_64_bits_stays_exact():
    assert codec.loads(b'{"n":123456789012345678901234}') == {"n": 123456789012345678901234}
    assert codec.loads(b'{"n":1234567890123456789}') == {"n": 1234567890123456789}
