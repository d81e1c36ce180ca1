"""The official SDK's way: a loop over `docusign-monitor`'s stream call, one JSON line per event.

Runs with the interpreter of a separate virtual environment that has `docusign-monitor`
installed (bench/run.py makes it in bench/.venv-sdk); the SDK is never a dependency of the
product. docusign-monitor 2.0.0 only knows the current API,
``GET /v1/organizations/{organizationId}/stream`` (`DocuMonitorApi.stream`), which answers a
`StreamResponse` whose `result_data` are `StreamingEventRow` models; each is turned back into
JSON with the SDK's own `ApiClient.sanitize_for_serialization` (JSON key names, the SDK's key
order) and written with the standard library, as an SDK user would.

usage: python bench/sdk_loop.py BASE_URL TOKEN ORGANIZATION_ID [PAGE_SIZE]
Prints "events N" on stderr at the end.
"""

from __future__ import annotations

import json
import sys

from docusign_monitor import ApiClient, DocuMonitorApi


def main() -> int:
    base_url, token, organization_id = sys.argv[1:4]
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    client = ApiClient(host=base_url)
    client.set_default_header("Authorization", "Bearer " + token)
    api = DocuMonitorApi(client)
    out = sys.stdout
    cursor = ""
    count = 0
    while True:
        kwargs = {"limit": limit}
        if cursor:
            kwargs["cursor"] = cursor
        page = api.stream(organization_id, **kwargs)
        for row in page.result_data or []:
            event = client.sanitize_for_serialization(row)
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
        out.flush()
        if page.end_cursor == cursor:
            break
        cursor = page.end_cursor
    print(f"events {count}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
