"""The practical limit: requests + the fastest JSON parser available + one write per page.

No checkpoint, no deduplication, no retries: what any client of the Monitor stream must at least
do. Run by bench/run.py as a subprocess; not part of the product.

usage: python bench/bare_loop.py URL TOKEN [PAGE_SIZE]
Prints "events N" on stderr at the end.
"""

from __future__ import annotations

import sys

import requests

try:
    import orjson

    loads, dumps = orjson.loads, orjson.dumps
except ImportError:  # the stdlib, made to write the same bytes
    import json

    def loads(data: bytes):  # type: ignore[no-untyped-def]
        return json.loads(data)

    def dumps(obj) -> bytes:  # type: ignore[no-untyped-def]
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def main() -> int:
    url, token = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token
    out = sys.stdout.buffer
    cursor = ""
    count = 0
    while True:
        params = {"limit": limit, "cursor": cursor} if cursor else {"limit": limit}
        answer = loads(session.get(url, params=params).content)
        events = answer.get("data") or answer.get("resultData") or []
        if events:
            out.write(b"".join([dumps(event) + b"\n" for event in events]))
            out.flush()
            count += len(events)
        end = answer["endCursor"]
        if end == cursor:
            print(f"events {count}", file=sys.stderr)
            return 0
        cursor = end


if __name__ == "__main__":
    sys.exit(main())
