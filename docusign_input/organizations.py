"""The organizations file: many DocuSign organizations for one process (``--organizations``).

A TOML file with an optional ``[defaults]`` table and one ``[[organization]]`` table each. Each
organization's settings are built by ``settings.load_settings`` from its entry (``Entry``: one
more layer, read by the same parsers as a flag or a variable); everything that is not per
organization (output, format, poll interval, logging, forward, CA bundle) comes from flags, the
environment and ``--config`` as for one organization, and applies to all.

Every problem is collected and reported at once, one line each naming the organization (by name,
or ``organization #3`` when the name is the problem) and the key, before anything is fetched.
Secrets come only as files: an inline ``integration_key`` or ``private_key`` is refused without
showing it. A per-organization flag or variable set together with ``--organizations`` is refused
too, so nobody believes it applies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .settings import (
    Entry,
    Settings,
    SettingsProblems,
    load_settings,
    looks_like_key_material,
    read_toml_file,
    setting_spec,
)
from .sharding import ALL, Shard

__all__ = [
    "Organization",
    "Fleet",
    "NAME_RULE",
    "FILE_KEYS",
    "PER_ORGANIZATION",
    "read_entries",
    "load_fleet",
    "default_state_dir",
    "state_dir_from",
]

#: A name: 1 to 63 of a-z, 0-9 and '-' (a file name, a Fluentd tag part, a Kubernetes label).
NAME_RULE = re.compile(r"[a-z0-9-]{1,63}\Z")
_NAME_FIX = "give a name of 1 to 63 lower-case letters, digits and '-', e.g. acme-corp"

#: The settings that are per organization (keys of ``settings``): given only in the file.
PER_ORGANIZATION = (
    "environment", "user_id", "integration_key", "private_key", "backfill_start", "checkpoint",
    "page_size", "auth_url", "monitor_api", "monitor_url", "organization_id",
)
#: The keys an ``[[organization]]`` (or ``[defaults]``, without ``name``) may hold.
FILE_KEYS = (
    "name", "environment", "user_id", "integration_key_file", "private_key_file",
    "backfill_start", "monitor_api", "organization_id", "auth_url", "monitor_url", "page_size",
)
_INLINE_SECRETS = {
    "integration_key": "integration_key_file",
    "private_key": "private_key_file",
}


@dataclass(frozen=True)
class Organization:
    """One organization of the file: its name and its own settings (checkpoint in the state
    directory as ``<name>.json``)."""

    name: str
    settings: Settings


@dataclass(frozen=True)
class Fleet:
    """The organizations this process takes (its shard's), in the file's order."""

    path: Path
    state_dir: Path
    shard: Shard
    organizations: tuple[Organization, ...]
    #: Every name in the file, whatever the shard (``status`` shows what the shard leaves out).
    all_names: tuple[str, ...]


@dataclass(frozen=True)
class _Raw:
    """An ``[[organization]]`` table as written, with its position for messages."""

    number: int  # 1-based
    name: str | None
    values: dict[str, Any]

    @property
    def who(self) -> str:
        return f"organization {self.name}" if self.name else f"organization #{self.number}"


def default_state_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME/docusign-input/organizations``, else under ``~/.local/state``."""
    xdg = environ.get("XDG_STATE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "docusign-input" / "organizations"
    home = environ.get("HOME", "") or os.path.expanduser("~")
    if not os.path.isabs(home) or home == "/":
        raise ConfigError(
            "the default state directory cannot be used: HOME is not set (or not an absolute "
            "path) and neither is XDG_STATE_HOME",
            "give --state-dir (or DOCUSIGN_STATE_DIR), e.g. /var/lib/docusign-input",
        )
    return Path(home) / ".local" / "state" / "docusign-input" / "organizations"


def state_dir_from(flag: str | None, environ: Mapping[str, str]) -> Path:
    """``--state-dir`` > ``DOCUSIGN_STATE_DIR`` > the default."""
    text = flag if flag and flag.strip() else environ.get("DOCUSIGN_STATE_DIR", "")
    if not text.strip():
        return default_state_dir(environ)
    if looks_like_key_material(text):
        raise ConfigError("the state directory holds key material, not a path; it is not shown",
                          "give a directory, e.g. /var/lib/docusign-input")
    path = Path(text.strip()).expanduser()
    return path


def _problem(path: Path, who: str, key: str | None, cause: str, fix: str) -> ConfigError:
    where = f"{path}: {who}" + (f": {key}" if key else "")
    return ConfigError(f"{where} {cause}", fix)


def read_entries(path: Path) -> tuple[dict[str, Any], list[_Raw], list[ConfigError]]:
    """The ``[defaults]`` table, the organizations and every structural problem: TOML, unknown
    keys, names, duplicates, inline secrets (refused without showing the value)."""
    fix_file = "give the path of an organizations file (TOML with [[organization]] tables)"
    if looks_like_key_material(str(path)):
        raise ConfigError("--organizations holds key material, not a file path; it is not shown",
                          fix_file)
    data = read_toml_file(path, f"organizations file {path}", fix_file,
                          'write [[organization]] tables with name = "..." and its keys')
    problems: list[ConfigError] = []
    for key in data:
        if key not in ("defaults", "organization"):
            problems.append(_problem(
                path, f"top-level key {key!r}", None, "is not known",
                "use a [defaults] table and [[organization]] tables only",
            ))
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.append(_problem(path, "defaults", None, "is not a table",
                                 "write it as a [defaults] table"))
        defaults = {}
    problems += _key_problems(path, "[defaults]", defaults, allow_name=False)
    tables = data.get("organization", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        problems.append(_problem(path, "organization", None, "is not a list of tables",
                                 "write each organization as an [[organization]] table"))
        tables = []
    if not tables and not problems:
        problems.append(ConfigError(f"organizations file {path} has no [[organization]]",
                                    "add one [[organization]] table per DocuSign organization"))
    raws: list[_Raw] = []
    seen: dict[str, int] = {}
    for number, table in enumerate(tables, 1):
        name = table.get("name")
        raw = _Raw(number, None, dict(table))
        if name is None:
            problems.append(_problem(path, raw.who, "name", "is missing", _NAME_FIX))
        elif not isinstance(name, str) or not NAME_RULE.match(name):
            shown = "(not shown)" if isinstance(name, str) and looks_like_key_material(name) \
                else repr(name)
            problems.append(_problem(path, raw.who, "name", f"{shown} is not a name", _NAME_FIX))
        elif name in seen:
            problems.append(_problem(
                path, raw.who, "name", f"{name!r} is already the name of organization "
                f"#{seen[name]}", "give each organization its own name"))
        else:
            seen[name] = number
            raw = _Raw(number, name, dict(table))
        problems += _key_problems(path, raw.who, table, allow_name=True)
        raws.append(raw)
    return defaults, raws, problems


def _key_problems(
    path: Path, who: str, table: Mapping[str, Any], *, allow_name: bool
) -> list[ConfigError]:
    problems = []
    for key in table:
        if key in _INLINE_SECRETS:
            problems.append(_problem(
                path, who, key, "holds a secret inline; the value is not shown",
                f"secrets come only as files: save it in a file only the connector can read "
                f"(chmod 600) and give {_INLINE_SECRETS[key]} = \"/path/to/it\"",
            ))
        elif key == "name" and not allow_name:
            problems.append(_problem(path, who, key, "cannot be a default",
                                     "give each [[organization]] its own name"))
        elif key not in FILE_KEYS:
            problems.append(_problem(path, who, key, "is not a known key",
                                     "known keys: " + ", ".join(FILE_KEYS)))
    return problems


def refuse_per_organization_settings(
    flags: Mapping[str, object], environ: Mapping[str, str], config_keys: Mapping[str, Any]
) -> list[ConfigError]:
    """A per-organization flag, variable or ``--config`` key set with ``--organizations``: each is
    one problem naming it (it would apply to no organization, or silently to all)."""
    problems = []
    for key in PER_ORGANIZATION:
        spec = setting_spec(key)
        names = []
        for flag_key, flag in ((spec.key, spec.flag), (spec.file_key, spec.file_flag)):
            if flag and flag_key and not _empty(flags.get(flag_key)):
                names.append(flag)
        names += [env for env in spec.environment_variables if not _empty(environ.get(env))]
        names += [f"{k} in --config" for k in (spec.key, spec.file_key)
                  if k and not _empty(config_keys.get(k))]
        file_key = spec.file_key or spec.key
        for name in names:
            problems.append(ConfigError(
                f"{name} is set together with --organizations, but the {spec.label} is per "
                "organization and comes only from the organizations file",
                f"unset {name} and give {file_key} in each [[organization]] (or in [defaults])",
            ))
    return problems


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def load_fleet(
    path: Path,
    flags: Mapping[str, object],
    environ: Mapping[str, str],
    *,
    command: str,
    state_dir: Path,
    shard: Shard = ALL,
    config_file: Path | None = None,
    config_keys: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Fleet:
    """Every organization of the file the shard takes, each with its settings; or
    ``SettingsProblems`` with every problem (one line each) found in the file, the flags and
    the environment. The file's structure is checked whole; settings (key files included) are
    built for the shard's organizations only: a replica need not hold the others' keys."""
    problems = refuse_per_organization_settings(flags, environ, config_keys or {})
    # Reported above; each organization's settings must not pick them up as well.
    per_organization = [setting_spec(key) for key in PER_ORGANIZATION]
    flags = {k: v for k, v in flags.items()
             if not any(k in (s.key, s.file_key) for s in per_organization)}
    environ = {k: v for k, v in environ.items()
               if not any(k in s.environment_variables for s in per_organization)}
    defaults, raws, structural = read_entries(path)
    problems += structural
    organizations: list[Organization] = []
    seen_lines: set[str] = set()
    for raw in raws:
        if raw.name is None or not shard.takes(raw.name):
            continue  # a bad name is reported already; its other keys are still checked below
        try:
            settings = load_settings(
                flags, environ, command=command, config_file=config_file, now=now,
                collect=True, entry=_entry(path, raw, defaults, state_dir),
            )
        except SettingsProblems as exc:
            for problem in exc.problems:
                if problem.line() not in seen_lines:  # a bad global setting or default, once
                    seen_lines.add(problem.line())
                    problems.append(problem)
            continue
        organizations.append(Organization(raw.name, settings))
    if problems:
        raise SettingsProblems(problems)
    return Fleet(
        path=path,
        state_dir=state_dir,
        shard=shard,
        organizations=tuple(organizations),
        all_names=tuple(raw.name for raw in raws if raw.name),
    )


def _entry(path: Path, raw: _Raw, defaults: Mapping[str, Any], state_dir: Path) -> Entry:
    # Only the known keys: an inline secret or an unknown key is reported, never read.
    values: dict[str, object] = {
        key: value for key, value in {**defaults, **raw.values}.items()
        if key in FILE_KEYS and key != "name"
    }
    values["checkpoint"] = state_dir / f"{raw.name}.json"
    mine = set(raw.values)

    def label(key: str) -> str:
        if key == "checkpoint":
            return f"--state-dir {state_dir}"
        where = raw.who if key in mine else "[defaults]"
        return f"{path}: {where}: {key}"

    return Entry(values, label, path.parent)
