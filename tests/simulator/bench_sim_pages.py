"""Pages per second the simulator serves: 2,000-event pages over one keep-alive session.

Not a test (pytest does not collect it).
Run: python tests/simulator/bench_sim_pages.py [N] [--parse]
``--parse`` also decodes each page with json, as a connector would; without it the client only
finds the endCursor, so the figure is mostly the simulator's own cost.
"""

from __future__ import annotations

import json
import resource
import sys
import time

from docusign_input.simulator import Simulator, SimulatorConfig
from docusign_input.simulator.testing import bearer_session


def main() -> None:
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    n = int(numbers[0]) if numbers else 200_000
    parse = "--parse" in sys.argv
    started = time.perf_counter()
    with Simulator(SimulatorConfig(backlog=n, rate_limits=False)) as sim:
        seeded_s = time.perf_counter() - started
        session = bearer_session(sim)
        url = sim.base_url + "/api/v2.0/datasets/monitor/stream"
        cursor, pages, events, size = "", 0, 0, 0
        started = time.perf_counter()
        while True:
            content = session.get(url, params={"cursor": cursor, "limit": 2000}).content
            size += len(content)
            if parse:
                body = json.loads(content)
                got, end = len(body["data"]), body["endCursor"]
            else:
                got = content.count(b'"eventId"')
                end = content[14 : content.index(b'"', 14)].decode()
            if end == cursor:
                break
            cursor, pages, events = end, pages + 1, events + got
        elapsed = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(
        f"seeded {n} events in {seeded_s:.1f} s; {pages} pages, {events} events, "
        f"{size / 1e6:.0f} MB in {elapsed:.2f} s = {pages / elapsed:.1f} pages/s "
        f"({events / elapsed:,.0f} events/s; client JSON parse: {parse}); max RSS {rss_mb:.0f} MB"
    )


if __name__ == "__main__":
    main()
