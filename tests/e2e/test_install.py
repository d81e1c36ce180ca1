"""What `pip install .` gives: orjson where it has a wheel, the standard library's json elsewhere,
and the same bytes on stdout either way."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import requires

from packaging.requirements import Requirement

from docusign_input import codec


def test_orjson_is_a_regular_dependency_where_it_has_wheels():
    [orjson] = [Requirement(r) for r in requires("docusign-input") or []
                if Requirement(r).name == "orjson" and "extra" not in str(Requirement(r).marker)]
    assert orjson.marker is not None
    for machine in ("x86_64", "AMD64", "aarch64", "arm64"):
        assert orjson.marker.evaluate({"platform_machine": machine,
                                       "platform_python_implementation": "CPython"})
    for machine in ("i686", "armv7l", "ppc64le", "s390x"):  # no wheel: the stdlib fallback
        assert not orjson.marker.evaluate({"platform_machine": machine,
                                           "platform_python_implementation": "CPython"})
    assert not orjson.marker.evaluate({"platform_machine": "x86_64",
                                       "platform_python_implementation": "PyPy"})
    if orjson.marker.evaluate():
        assert codec.BACKEND == "orjson", f"orjson is required on {platform.machine()}"


def test_without_orjson_the_stdlib_fallback_writes_the_same_bytes(simulator, connector):
    simulator.seed_backlog(300, days=1)
    with_orjson = connector.run("run", "--backfill-start", "earliest", "--page-size", "100")
    assert with_orjson.returncode == 0, with_orjson.stderr.decode()
    connector.checkpoint.unlink()
    without = subprocess.run(
        [sys.executable, "-c",
         "import sys; sys.modules['orjson'] = None\n"
         "from docusign_input import codec\n"
         "assert codec.BACKEND == 'json'\n"
         "from docusign_input.cli import main; sys.exit(main())",
         "run", "--backfill-start", "earliest", "--page-size", "100"],
        env=connector.env, capture_output=True, timeout=60)
    assert without.returncode == 0, without.stderr.decode()
    assert without.stdout == with_orjson.stdout
    assert len(without.stdout.splitlines()) == 300
