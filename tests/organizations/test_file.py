"""The organizations file: every problem at once, one line each naming the organization and the
key; secrets only as files, never shown; per-organization flags and variables refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from docusign_input.organizations import load_fleet
from docusign_input.settings import SettingsProblems, pem_line

USER = "2f3c9d4e-0000-4000-8000-00000000000{}"
KEY_TEXT = pem_line("BEGIN", "RSA PRIVATE KEY") + "\nMIIEow" + "A" * 60 + "\n" + pem_line(
    "END", "RSA PRIVATE KEY") + "\n"


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    (tmp_path / "ik").write_text("1f2e3d4c-0000-4000-8000-123456789abc\n")
    (tmp_path / "key.pem").write_text(KEY_TEXT)
    return tmp_path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "organizations.toml"
    path.write_text(text)
    return path


HEAD = """
[defaults]
environment = "development"
integration_key_file = "ik"
private_key_file = "key.pem"
"""


def load(path: Path, flags: dict | None = None, environ: dict | None = None):
    return load_fleet(path, flags or {}, environ or {"HOME": str(path.parent)}, command="run",
                      state_dir=path.parent / "state")


def problems_of(path: Path, **kwargs) -> list[str]:
    with pytest.raises(SettingsProblems) as caught:
        load(path, **kwargs)
    return [p.line() for p in caught.value.problems]


def test_each_organization_gets_its_own_settings_and_checkpoint(keys):
    path = write(keys, HEAD + f"""
[[organization]]
name = "acme"
user_id = "{USER.format(1)}"

[[organization]]
name = "globex"
user_id = "{USER.format(2)}"
environment = "production"
page_size = 500
""")
    fleet = load(path)
    acme, globex = fleet.organizations
    assert (acme.name, globex.name) == ("acme", "globex")
    assert acme.settings.checkpoint_path == keys / "state" / "acme.json"
    assert globex.settings.checkpoint_path == keys / "state" / "globex.json"
    assert acme.settings.environment == "development"
    assert globex.settings.environment == "production"
    assert globex.settings.auth_url == "https://account.docusign.com"
    assert (acme.settings.page_size, globex.settings.page_size) == (2000, 500)
    assert acme.settings.private_key_pem.reveal() == KEY_TEXT


def test_every_problem_is_one_line_naming_organization_and_key(keys):
    path = write(keys, HEAD + f"""
[[organization]]
name = "acme"
user_id = "bob@example.com"
colour = "red"

[[organization]]
name = "Not A Name"
user_id = "{USER.format(2)}"

[[organization]]
name = "globex"
user_id = "{USER.format(3)}"
page_size = 5000

[[organization]]
name = "acme"
user_id = "{USER.format(4)}"
""")
    lines = problems_of(path)
    assert len(lines) == 5, lines
    assert any(": organization acme: colour is not a known key" in line for line in lines)
    assert any(": organization acme: user_id 'bob@example.com' is an e-mail" in line
               for line in lines)
    assert any(": organization #2: name 'Not A Name' is not a name" in line for line in lines)
    assert any(": organization globex: page_size 5000 is out of range" in line for line in lines)
    assert any(": organization #4: name 'acme' is already the name of organization #1" in line
               for line in lines)


def test_inline_secrets_are_refused_without_showing_them(keys):
    path = write(keys, f"""
[defaults]
environment = "development"
integration_key = "1f2e3d4c-0000-4000-8000-123456789abc"

[[organization]]
name = "acme"
user_id = "{USER.format(1)}"
private_key = '''{KEY_TEXT}'''
""")
    lines = problems_of(path)
    text = "\n".join(lines)
    assert "[defaults]: integration_key holds a secret inline" in text
    assert "organization acme: private_key holds a secret inline" in text
    assert "1f2e3d4c" not in text and "MIIE" not in text


def test_per_organization_flags_and_variables_are_refused_by_name(keys):
    path = write(keys, HEAD + f"""
[[organization]]
name = "acme"
user_id = "{USER.format(1)}"
""")
    lines = problems_of(path, flags={"user_id": USER.format(9), "private_key_file": "x"},
                        environ={"HOME": str(keys), "DOCUSIGN_BACKFILL_START": "7d",
                                 "DOCUSIGN_INTEGRATION_KEY": "secret-value"})
    assert {line.split(" is set together")[0] for line in lines} == {
        "--user-id", "--private-key-file", "DOCUSIGN_BACKFILL_START", "DOCUSIGN_INTEGRATION_KEY"}
    assert not any("secret-value" in line for line in lines)


def test_the_command_exits_78_with_every_problem_before_fetching(keys, tmp_path):
    import subprocess

    from connector_support import connector_command

    path = write(keys, HEAD + """
[[organization]]
name = "acme"
user_id = "nobody"

[[organization]]
name = "globex"
private_key = "inline-secret-text"
""")
    result = subprocess.run(
        [*connector_command(), "run", "--organizations", str(path), "--state-dir",
         str(tmp_path / "state")],
        capture_output=True, text=True, timeout=60,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "DOCUSIGN_USER_ID": "x"},
    )
    assert result.returncode == 78, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 4, lines  # one line per problem, nothing else
    assert any("DOCUSIGN_USER_ID is set together with --organizations" in x for x in lines)
    assert any("organization acme: user_id 'nobody' is not a user ID" in x for x in lines)
    assert any("organization globex: private_key holds a secret inline" in x for x in lines)
    assert any("the user ID is not set" in x for x in lines)
    assert "inline-secret-text" not in result.stdout + result.stderr
    assert not (tmp_path / "state").exists()  # nothing fetched, nothing written
