"""`fluent-bit --dry-run` on every shipped config with none of its variables set, as a user runs it
before filling them in (issue 19): real Fluent Bit 4.2.8 and 5.1.1 accept the config, warning
only about the variables that have no default. The port and `*_TLS` variables default to the
documented values (`${VAR:-default}`): an unset `LOKI_TLS` expanded to an empty `tls` that 5.1.1
refused ("unknown configuration property 'tls'") while the comments said it only warns."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from fluentbit_support import SKIP_REASON, binaries
from pipeline_support import FLUENT_BIT_CONFIGS, FLUENT_BIT_DIR

BINARIES = binaries()
VERSIONS = sorted(BINARIES) or [pytest.param("none", marks=pytest.mark.skip(reason=SKIP_REASON))]
#: The documented default of each variable that has one, as the configs' comments state it.
DEFAULTS = {"LOKI_PORT": "3100", "LOKI_TLS": "on", "ES_PORT": "9200", "ES_TLS": "on",
            "SPLUNK_HEC_PORT": "8088", "SPLUNK_HEC_TLS": "on"}


@pytest.mark.parametrize("version", VERSIONS)
def test_dry_run_with_no_variable_set_accepts_every_config(version, tmp_path):
    shutil.copy(FLUENT_BIT_DIR / "parsers.conf", tmp_path / "parsers.conf")
    failures = []
    for path in FLUENT_BIT_CONFIGS:
        config = tmp_path / path.name  # beside parsers.conf, as installed
        config.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        run = subprocess.run([BINARIES[version], "--dry-run", "-c", str(config)],
                             env={"PATH": "/usr/bin:/bin"}, capture_output=True, timeout=60)
        log = (run.stdout + run.stderr).decode(errors="replace")
        unset = set(re.findall(r"variable \$\{(\w+)\} is used but not set", log))
        if run.returncode != 0 or "[error]" in log:
            failures.append(f"{path.name}: exit {run.returncode}: "
                            f"{[ln for ln in log.splitlines() if 'error' in ln][:2]}")
        elif unset & set(DEFAULTS):
            failures.append(f"{path.name}: {sorted(unset & set(DEFAULTS))} have no default")
    assert not failures, failures


@pytest.mark.parametrize("path", FLUENT_BIT_CONFIGS, ids=lambda p: p.name)
def test_the_comments_give_the_defaults_the_config_uses(path):
    text = path.read_text(encoding="utf-8")
    for var, default in DEFAULTS.items():
        if "${" + var in text:
            assert "${" + f"{var}:-{default}" + "}" in text, var
            if var.endswith("_PORT"):
                assert f"{var} ({default})" in text, f"{var}: comment"
            else:
                assert f"{var} ({default};" in text, f"{var}: comment"
