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


def test_a_short_lived_secret_is_masked_until_an_hour_after_it_expires_and_then_let_go():
    redactor = Redactor()
    redactor.register("for-good-secret")
    redactor.register_until(1000.0, "token-one-expires-1000", now=0.0)
    redactor.register_until(1000.0, "for-good-secret", now=0.0)  # registered for good: stays
    redactor.register_until(1000.0, "token-renewed-later", now=0.0)
    redactor.register_until(9000.0, "token-renewed-later", now=500.0)  # a later expiry wins
    text = "token-one-expires-1000 for-good-secret token-renewed-later"
    # live, then expired but within the hour: masked
    redactor.register_until(5000.0, "another-token-2", now=999.0)
    assert redactor.scrub(text) == "******** ******** ********"
    redactor.register_until(5000.0, "another-token-3", now=1000.0 + 3599.0)
    assert redactor.scrub(text) == "******** ******** ********"
    # an hour after its expiry the registry lets it go; the rest stays masked
    redactor.register_until(9000.0, "another-token-4", now=1000.0 + 3601.0)
    assert redactor.scrub(text) == "token-one-expires-1000 ******** ********"
    assert redactor.scrub("another-token-2 another-token-4") == "******** ********"
    assert redactor.registered() == 5
