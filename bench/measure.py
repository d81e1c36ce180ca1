"""Run one command as a child of this small, fresh process and report what it cost.

bench/run.py starts this launcher for every measurement. Why a launcher: Linux keeps a process's
peak RSS across exec, so a command forked straight from the harness (which holds the simulator's
backlog, ~1.7 GB for 1M events) would report the harness's RSS as its own. Forked from this
launcher it inherits only a few MB, and RUSAGE_CHILDREN here is the measured command alone.

usage: python bench/measure.py STDOUT_FILE -- COMMAND [ARG...]
Prints one JSON object: wall_s, user_s, sys_s, maxrss_kb, exit_code.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time


def main() -> int:
    sep = sys.argv.index("--")
    stdout_path, command = sys.argv[1], sys.argv[sep + 1 :]
    with open(stdout_path, "wb") as out:
        started = time.perf_counter()
        code = subprocess.call(command, stdout=out)
        wall_s = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    json.dump(
        {
            "wall_s": wall_s,
            "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime,
            "maxrss_kb": usage.ru_maxrss,
            "exit_code": code,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
