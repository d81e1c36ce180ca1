"""The reporter: one line per message, and key material blanked whatever message carries it."""

from __future__ import annotations

import io
import json

import pytest

from docusign_input.redact import Redactor
from docusign_input.report import Reporter
from docusign_input.settings import pem_line

BODY = ["MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
        "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK"]
PEM = "\n".join([pem_line("BEGIN", "RSA PRIVATE KEY"), *BODY, pem_line("END", "RSA PRIVATE KEY")])


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_pem_block_in_any_message_is_blanked_in_text_and_json(fmt: str) -> None:
    stream = io.StringIO()
    reporter = Reporter(fmt=fmt, stream=stream)
    reporter.error(f"--checkpoint {PEM} does not exist", setting=PEM)
    out = stream.getvalue()
    assert out.count("\n") == 1 and "BEGIN" not in out
    assert not [line for line in BODY if line[:20] in out]
    if fmt == "json":
        assert "[key material hidden]" in json.loads(out)["message"]


def test_the_loaded_keys_body_lines_are_blanked_even_without_armour() -> None:
    stream = io.StringIO()
    redactor = Redactor()
    reporter = Reporter(stream=stream, redactor=redactor)
    redactor.register(PEM)
    reporter.warning(f"odd value {BODY[1]} seen")
    assert BODY[1] not in stream.getvalue() and "********" in stream.getvalue()
