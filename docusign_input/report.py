"""The one way diagnostics leave the program: single lines on stderr, as text or JSON.

Vector turns every stderr line into an event, so a message is always exactly one line, and in
``json`` format one JSON object. stdout is never touched here: it carries events only.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any, Callable

from .redact import REDACTOR, Redactor

__all__ = ["Reporter", "LEVELS"]

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class Reporter:
    def __init__(
        self,
        *,
        level: str = "info",
        fmt: str = "text",
        stream: IO[str] | None = None,
        redactor: Redactor = REDACTOR,
    ) -> None:
        self.threshold = LEVELS.get(level, 20)
        self.fmt = fmt
        self.stream = stream if stream is not None else sys.stderr
        #: Every message and field goes through it before encoding (see `redact`).
        self.redactor = redactor

    def configure(self, *, level: str, fmt: str) -> None:
        """Adopt the resolved log settings (they may come from the --config file)."""
        self.threshold = LEVELS.get(level, 20)
        self.fmt = fmt

    def debug(self, message: str, **fields: Any) -> None:
        self.emit("debug", message, **fields)

    def info(self, message: str, **fields: Any) -> None:
        self.emit("info", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.emit("warning", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.emit("error", message, **fields)

    def emit(self, level: str, message: str, **fields: Any) -> None:
        if LEVELS[level] < self.threshold:
            return
        line = self.render(level, message, **fields)
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # stderr gone: nothing sensible left to tell anyone

    def render(self, level: str, message: str, **fields: Any) -> str:
        """The line `emit` would write (without its newline), for writers that must not block
        on the stream's lock (the stop watchdog)."""
        now = time.time()
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        )
        # Redaction before encoding: JSON escaping would hide a secret holding `"` or `\`.
        scrub = self.redactor.scrub
        message = scrub(message)
        shown = {k: _scrubbed(v, scrub) for k, v in fields.items()}
        if self.fmt == "json":
            record = {"time": stamp, "level": level, "message": message}
            record.update(shown)
            line = json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":"))
        else:
            extras = " ".join(f"{k}={_text_value(v)}" for k, v in shown.items() if v is not None)
            line = f"{stamp} docusign-input {level}: {message}" + (f" ({extras})" if extras else "")
        return line.replace("\r", " ").replace("\n", " ")


def _scrubbed(value: Any, scrub: Callable[[str], str]) -> Any:
    """A field value with its text redacted; numbers, None and the shape of lists and objects
    stay what they are."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): _scrubbed(v, scrub) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(v, scrub) for v in value]
    return scrub(str(value))


def _text_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text) else text
