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


def test_thousands_of_registered_secrets_are_each_masked_leftmost_and_longest_first():
    """Many organizations register thousands of values (key lines, tokens, assertions); each is
    still masked, the longest where several start at one place, and nothing else is touched."""
    from docusign_input.redact import MASK, Redactor

    redactor = Redactor()
    values = [f"secret-{n:05d}-" + "x" * (n % 40) for n in range(5000)]
    redactor.register(*values)
    redactor.register("secret-00001-x-and-more")
    text = f"a {values[0]} b {values[4999]} c secret-00001-x-and-more d secret-99999 e"
    assert redactor.scrub(text) == f"a {MASK} b {MASK} c {MASK} d secret-99999 e"
    consent = f"https://x/oauth/auth?client_id={values[7]}&x=1 and {values[7]}"
    assert redactor.scrub(consent) == f"https://x/oauth/auth?client_id={values[7]}&x=1 and {MASK}"
    assert redactor.scrub(consent, consent_url=False).count(MASK) == 2
