"""Record new vcrpy cassettes against a real DocuSign tenant, with every secret scrubbed.

Run by hand (never in CI), with the usual settings in the environment:

    DOCUSIGN_ENVIRONMENT=development DOCUSIGN_USER_ID=... \\
    DOCUSIGN_INTEGRATION_KEY_FILE=... DOCUSIGN_PRIVATE_KEY_FILE=... \\
    python tests/integration/record_cassettes.py token_success lens_stream_page

Each name writes ``tests/cassettes/<name>.yaml`` with ``record_mode="once"`` (an existing file is
never overwritten: delete it first). See docs/recording-cassettes.md. ``VCR_CONFIG`` is also what
the replay tests use, so recorded and hand-written cassettes match the same way.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"
SCRUBBED_TOKEN = "SCRUBBED_ACCESS_TOKEN"

# Anything shaped like a secret: a bearer token, a JWT, a PEM block.
SECRET_PATTERNS = (
    re.compile(r"Bearer\s+(?!SCRUBBED)[A-Za-z0-9._~+/-]{8,}"),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"-----BEGIN [A-Z ]*KEY-----"),
)


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """Replace the ``access_token`` of token answers; drop cookies DocuSign may set."""
    body = response.get("body", {}).get("string")
    if isinstance(body, bytes):
        try:
            data = json.loads(body.decode("utf-8"))
        except ValueError:
            data = None
        if isinstance(data, dict) and "access_token" in data:
            data["access_token"] = SCRUBBED_TOKEN
            data.pop("refresh_token", None)
            response["body"]["string"] = json.dumps(data, separators=(",", ":")).encode()
    headers = response.get("headers", {})
    for name in [h for h in headers if h.lower() == "set-cookie"]:
        del headers[name]
    return response


VCR_CONFIG: dict[str, Any] = {
    "cassette_library_dir": str(CASSETTES),
    # The assertion is scrubbed from the body, so the body cannot be matched on.
    "match_on": ("method", "uri"),
    "filter_headers": ["authorization", "cookie"],
    "filter_post_data_parameters": [("assertion", "SCRUBBED")],
    "before_record_response": scrub_response,
    "decode_compressed_response": True,
}


def find_secrets(text: str) -> list[str]:
    """Secret-looking fragments in a cassette (for the safety check before committing)."""
    return [m.group(0)[:12] + "..." for p in SECRET_PATTERNS for m in p.finditer(text)]


def _scenarios() -> dict[str, Callable[[], None]]:
    import requests

    from docusign_input.auth import TokenProvider
    from docusign_input.errors import ConnectorError
    from docusign_input.settings import load_settings
    from docusign_input.stream import StreamClient

    def settings() -> Any:
        return load_settings({"token_cache": False}, os.environ)

    def token() -> None:
        try:
            TokenProvider(settings(), requests.Session(), use_cache=False).get_token()
        except ConnectorError as exc:  # an error answer is what some cassettes are for
            print(f"recorded a refusal: {exc.line()}")

    def lens_page() -> None:
        s = settings()
        session = requests.Session()
        client = StreamClient(session, s.monitor_url, TokenProvider(s, session, use_cache=False))
        page = client.fetch("", 10)
        client.fetch(page.end_cursor, 10)

    return {"token": token, "lens_page": lens_page}


def main(argv: list[str]) -> int:
    import vcr

    if not argv:
        print(__doc__)
        return 2
    scenarios = _scenarios()
    recorder = vcr.VCR(record_mode="once", **VCR_CONFIG)
    for name in argv:
        scenario = scenarios["lens_page" if "stream" in name else "token"]
        with recorder.use_cassette(f"{name}.yaml"):
            scenario()
        path = CASSETTES / f"{name}.yaml"
        leaks = find_secrets(path.read_text())
        if leaks:
            path.unlink()
            print(f"{path}: removed, it held secret-looking values {leaks}", file=sys.stderr)
            return 1
        print(f"recorded {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
