"""The layering a reader of the code relies on: the pure core imports no module that does I/O.

The engine decides from the checkpoint value and DocuSign's pages alone; the formats map one
event to another; timestamps parse text. If any of them reached a module that touches files,
sockets or the process, a unit test of the core would quietly depend on the machine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import docusign_input

PACKAGE = Path(docusign_input.__file__).parent

#: The pure modules (every module under formats/ is one too): `health` judges a checkpoint
#: value for `status`; `redact` is the process-wide registry of secrets the errors scrub their
#: text with (no I/O); `forward_frames` is the forward output's framing (no sockets).
PURE = ["engine", "checkpoint", "health", "timestamps", "codec", "errors", "retry", "redact",
        "forward_frames"]

#: Standard-library and third-party modules that do I/O (files, sockets, processes, signals).
IO_MODULES = {
    "os", "io", "sys", "socket", "ssl", "select", "fcntl", "signal", "subprocess", "pathlib",
    "shutil", "tempfile", "http", "urllib.request", "requests", "urllib3",
}


def _module_file(name: str) -> Path:
    path = PACKAGE.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _imports(name: str) -> set[str]:
    """Every module `name` imports, at its top or inside a function (resolved to full names)."""
    tree = ast.parse(_module_file(name).read_text(encoding="utf-8"))
    is_package = _module_file(name).name == "__init__.py"
    package = name if is_package else (name.rsplit(".", 1)[0] if "." in name else "")
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.add(node.module or "")
                continue
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join([*base, node.module] if node.module else base)
            found.add(f"docusign_input.{target}" if target else "docusign_input")
            for alias in node.names:  # `from . import codec` names a module
                candidate = f"{target}.{alias.name}" if target else alias.name
                if _module_file(candidate).exists():
                    found.add(f"docusign_input.{candidate}")
    return found


def _reachable(start: list[str]) -> dict[str, str]:
    """Every module reachable from `start`, mapped to the project module that imports it."""
    seen: dict[str, str] = {}
    todo = [f"docusign_input.{name}" for name in start]
    for name in todo:
        seen.setdefault(name, "(start)")
    while todo:
        current = todo.pop()
        short = current.removeprefix("docusign_input").lstrip(".")
        if not short or not _module_file(short).exists():
            continue
        for imported in _imports(short):
            if imported not in seen:
                seen[imported] = current
                if imported.startswith("docusign_input."):
                    todo.append(imported)
    return seen


def test_the_pure_modules_import_no_module_that_does_io():
    formats = sorted(
        f"formats.{path.stem}" for path in (PACKAGE / "formats").glob("*.py")
        if path.stem != "__init__"
    )
    reached = _reachable([*PURE, "formats", *formats])
    offenders = {
        name: by for name, by in reached.items()
        if name in IO_MODULES or name.split(".")[0] in IO_MODULES
    }
    project = {name for name in reached if name.startswith("docusign_input.")}
    allowed = {f"docusign_input.{name}" for name in [*PURE, "formats", *formats]}
    assert not offenders, f"I/O modules reached from the pure core (module: by): {offenders}"
    assert project <= allowed, (
        f"the pure core imports other project modules: {sorted(project - allowed)}"
    )
