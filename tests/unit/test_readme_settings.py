"""The README's settings table names every setting a user can give, by flag and variable."""

from __future__ import annotations

from pathlib import Path

from docusign_input.settings import specs_for

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_settings_table_lists_every_flag_and_environment_variable():
    """`--format` (DOCUSIGN_FORMAT) was missing from the table."""
    text = README.read_text(encoding="utf-8")
    table = text.split("| setting | environment variable | flag | default |", 1)[1]
    table = table.split("\n\n", 1)[0]
    missing = []
    for spec in specs_for():
        for name in (spec.flag, spec.file_flag, *spec.environment_variables):
            if name and f"`{name}`" not in table:
                missing.append(name)
    assert not missing, f"README settings table lacks: {missing}"
